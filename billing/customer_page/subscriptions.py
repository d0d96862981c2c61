"""Cockpit: subscribe a customer, change its plan, cancel a subscription (SPEC §11.6), from the customer page.

Each form calls the service the API calls (``billing.subscriptions.services``), so the rules and their messages
are the API's; a service's field errors come back next to the named field (400), a conflict above the form (409).
A plan change and a cancellation are previewed first (``previews.action_preview``: what the change will bill) and
happen only when the preview is confirmed. Viewers get 403 on these pages (``MerchantEditMixin``).
"""

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.generic import TemplateView
from rest_framework.exceptions import ValidationError

from atlas.api.exceptions import Conflict
from atlas.tenancy import MerchantEditMixin
from billing.customer_page.forms import CancelForm, ChangePlanForm, SubscribeForm
from billing.customer_page.previews import action_preview, invoice_display
from billing.display import date_text
from billing.subscriptions.models import Subscription
from billing.subscriptions.selectors import subscription_status
from billing.subscriptions.services import subscription_cancel, subscription_change_plan, subscription_create
from customers.models import Customer


def attach_errors(form, detail) -> None:
    """A service's errors onto the form: ``overrides.charges.calls.unit_amount`` goes to ``overrides`` with its path,
    a field the form has to that field, anything else above the form."""
    items = detail.items() if isinstance(detail, dict) else [(None, detail)]
    for field, reasons in items:
        reasons = reasons if isinstance(reasons, list) else [reasons]
        message = " ".join(str(reason) for reason in reasons)
        if field and field.startswith("overrides.") and "overrides" in form.fields:
            form.add_error("overrides", f"{field.removeprefix('overrides.')}: {message}")
        elif field in form.fields:
            form.add_error(field, message)
        else:
            form.add_error(None, message)


class _CustomerAction(MerchantEditMixin, TemplateView):
    template_name = "billing/customer_page/subscription_action.html"
    title = ""

    def customer(self) -> Customer:
        return get_object_or_404(self.scoped(Customer), external_id=self.kwargs["external_id"])

    def render(self, form, status=200, **extra):
        context = self.get_context_data(form=form, title=self.title, tz=self.request.merchant.timezone, **extra)
        return self.render_to_response(context, status=status)

    def done(self, customer: Customer, message: str):
        messages.success(self.request, message)
        return redirect("cockpit:customer", external_id=customer.external_id)


class SubscribeView(_CustomerAction):
    title = "Subscribe"

    def form(self, customer, data=None):
        today = timezone.now().astimezone(ZoneInfo(self.request.merchant.timezone)).date()
        initial = {"start_date": today, "external_id": _suggested_id(customer), "billing_anchor": "calendar"}
        return SubscribeForm(data, merchant=self.request.merchant, currency=customer.currency, initial=initial)

    def get(self, request, external_id):
        customer = self.customer()
        return self.render(self.form(customer), customer=customer)

    def post(self, request, external_id):
        customer = self.customer()
        form = self.form(customer, request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                subscription = subscription_create(merchant=request.merchant, customer=customer.external_id, **data)
            except ValidationError as exc:
                attach_errors(form, exc.detail)
            else:
                version = subscription.plan_version
                start = date_text(subscription.started_at, subscription.timezone)
                return self.done(customer, f"Subscribed to {version.plan.name} v{version.version} from {start}.")
        return self.render(form, status=400, customer=customer)


def _suggested_id(customer: Customer) -> str:
    """``sub_<customer>``, or ``sub_<customer>_2``, … when taken."""
    base = f"sub_{customer.external_id}"[:250]
    taken = set(
        Subscription.objects.filter(merchant_id=customer.merchant_id, external_id__startswith=base).values_list(
            "external_id", flat=True
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


class _SubscriptionAction(_CustomerAction):
    """A change to one open subscription: form → preview of what it bills → confirm. Subclasses say what the change
    is (``act``: the service call) and what confirming it answers (``apply``)."""

    form_class = None
    confirm_label = ""

    def subscription(self, customer) -> Subscription:
        return get_object_or_404(
            self.scoped(Subscription).select_related("plan_version__plan", "customer__merchant", "merchant"),
            customer=customer, external_id=self.kwargs["subscription"],
        )  # fmt: skip

    def make_form(self, customer, data=None):
        return self.form_class(data)

    def get(self, request, external_id, subscription):
        customer = self.customer()
        sub = self.subscription(customer)
        return self.render(self.make_form(customer), customer=customer, subscription=sub,
                           status_now=subscription_status(sub, timezone.now()))  # fmt: skip

    def post(self, request, external_id, subscription):
        customer = self.customer()
        sub = self.subscription(customer)
        form = self.make_form(customer, request.POST)
        context = {"customer": customer, "subscription": sub, "status_now": subscription_status(sub, timezone.now())}
        if not form.is_valid():
            return self.render(form, status=400, **context)
        at = timezone.now()
        confirmed = request.POST.get("confirm") == "1"
        try:
            if confirmed:
                return self.apply(customer, sub, form.cleaned_data, at)
            preview = action_preview(subscription=sub, action=lambda: self.act(sub, form.cleaned_data, at), at=at)
        except ValidationError as exc:
            attach_errors(form, exc.detail)
            return self.render(form, status=400, **context)
        except Conflict as exc:
            form.add_error(None, str(exc.detail))
            return self.render(form, status=409, **context)
        tz = request.merchant.timezone
        context["preview"] = {
            "ends_at": preview.subscription.ends_at,
            "new": preview.new,
            "invoices": [invoice_display(title=item.title, invoice=item.invoice, lines=item.lines, tz=tz)
                         for item in preview.invoices],  # fmt: skip
        }
        context["confirm_label"] = self.confirm_label
        return self.render(form, **context)


class ChangePlanView(_SubscriptionAction):
    title = "Change plan"
    form_class = ChangePlanForm
    confirm_label = "Confirm plan change"

    def make_form(self, customer, data=None):
        return ChangePlanForm(data, merchant=self.request.merchant, currency=customer.currency)

    def act(self, subscription, data, at) -> Subscription:
        return subscription_change_plan(subscription=subscription, at=at, **data)

    def apply(self, customer, subscription, data, at):
        new = self.act(subscription, data, at)
        tz = new.timezone
        return self.done(customer, f"{subscription.external_id} changes to {new.plan_version.plan.name} "
                                   f"v{new.plan_version.version} on {date_text(new.started_at, tz)} "
                                   f"(subscription {new.external_id}).")  # fmt: skip


class CancelView(_SubscriptionAction):
    title = "Cancel subscription"
    form_class = CancelForm
    confirm_label = "Confirm cancellation"

    def act(self, subscription, data, at) -> Subscription:
        return subscription_cancel(subscription=subscription, at=at, **data)

    def apply(self, customer, subscription, data, at):
        canceled = self.act(subscription, data, at)
        return self.done(customer, f"{canceled.external_id} is canceled; it ends "
                                   f"{date_text(canceled.ends_at, canceled.timezone)}.")  # fmt: skip
