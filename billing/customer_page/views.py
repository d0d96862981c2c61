"""Cockpit: one customer's page. It composes every app, so it lives in billing.

Subscriptions and their periods (with Subscribe, Change plan and Cancel subscription: ``subscriptions.py``), the
upcoming invoice (``billing.invoices.upcoming``), live usage against each limit, credits and their ledger,
invoices, users with their provisioning history, and whether billing rules exclude the
customer today. Admins provision and deprovision users and grant credits here; each form
calls the same service as the API, and bad input re-renders the page with the errors (400).
"""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.generic import TemplateView
from rest_framework.exceptions import ValidationError

from atlas.api.exceptions import Conflict
from atlas.tenancy import MerchantPageMixin
from billing.credits.forms import CreditGrantForm
from billing.credits.models import CreditLedgerEntry
from billing.credits.selectors import credit_summary
from billing.credits.serializers import CreditGrantInputSerializer
from billing.credits.services import credit_grant_create
from billing.customer_page.forms import DeprovisionForm, ProvisionForm
from billing.customer_page.previews import upcoming_display
from billing.display import money_with_currency, quantity_text
from billing.invoices.models import Invoice
from billing.invoices.upcoming import upcoming_invoices
from billing.subscriptions.models import Subscription
from billing.subscriptions.selectors import subscription_period_at, subscription_status
from billing.usage.entitlements import customer_entitlements
from billing.usage.selectors import customer_usage
from catalog.models import Feature
from customers.models import Customer, CustomerUser, ProvisioningChange
from customers.selectors import billing_exclusions
from metering.provisioning import Actor, user_deprovision, user_provision

LIST_LIMIT = 50  # invoices and ledger entries shown; the invoices page has them all


STATUS_BADGES = {"active": "ok", "trialing": "warn", "pending": "muted", "terminated": "muted"}


INVOICE_BADGES = {"draft": "warn", "finalized": "", "paid": "ok", "void": "muted"}


def invoice_url(pk: int) -> str:
    try:
        return reverse("cockpit:invoice", kwargs={"pk": pk})
    except NoReverseMatch:
        return f"/invoices/{pk}/"


def limit_meter(entitlement) -> dict:
    """A limit entitlement as a progress bar: "750 / 1,000", how full, and how worried to look."""
    usage = entitlement.usage or Decimal(0)
    if entitlement.limit == Feature.UNLIMITED:
        return {"text": f"{quantity_text(usage)} / unlimited", "percent": 0, "tone": "", "unlimited": True}
    if not entitlement.limit:
        return {"text": "no access", "percent": 0, "tone": "bad", "unlimited": False}
    ratio = usage / Decimal(entitlement.limit)
    percent = int(min(ratio, Decimal(1)) * 100)
    tone = "bad" if ratio >= 1 else "warn" if ratio >= Decimal("0.8") else ""
    text = f"{quantity_text(usage)} / {quantity_text(Decimal(entitlement.limit))}"
    return {"text": text, "percent": percent, "tone": tone, "unlimited": False}


class CustomerDetailView(MerchantPageMixin, TemplateView):
    template_name = "billing/customer_detail.html"

    def customer(self) -> Customer:
        return get_object_or_404(self.scoped(Customer), external_id=self.kwargs["external_id"])

    def get(self, request, *args, **kwargs):
        return self.render_to_response(self.page_context(self.customer()))

    def page_context(self, customer: Customer, **forms) -> dict:
        now = timezone.now()
        today = now.astimezone(ZoneInfo(self.request.merchant.timezone)).date()
        subscriptions = self._subscriptions(customer, now)
        context = self.get_context_data(
            customer=customer,
            now=now,
            tz=self.request.merchant.timezone,
            subscriptions=subscriptions,
            # "billed" only means something for a customer with a subscription to bill today
            subscribed=any(row["status"] in ("active", "trialing") for row in subscriptions),
            usage=self._usage(customer, now),
            limits=self._entitlements(customer, now),
            credits=self._credits(customer, now),
            invoices=self._invoices(customer),
            users=self._users(customer),
            exclusion=billing_exclusions(customer=customer, on=today),
            today=today,
            provision_form=forms.get("provision_form") or ProvisionForm(),
            deprovision_form=forms.get("deprovision_form") or DeprovisionForm(),
            deprovision_user=forms.get("deprovision_user"),
            grant_form=forms.get("grant_form") or CreditGrantForm(initial={"currency": customer.currency}),
            upcoming=[upcoming_display(item, self.request.merchant.timezone)
                      for item in upcoming_invoices(customer=customer, at=now)],  # fmt: skip
        )
        return context

    def _subscriptions(self, customer: Customer, now: datetime) -> list[dict]:
        subscriptions = (
            self.scoped(Subscription)
            .filter(customer=customer)
            .select_related("plan_version__plan")
            .order_by("-started_at", "-pk")
        )
        subscriptions = list(subscriptions)
        replaced = {s.previous_id for s in subscriptions if s.previous_id is not None}
        rows = []
        for subscription in subscriptions:
            status = subscription_status(subscription, now)
            period = subscription_period_at(subscription, now) if status != "terminated" else None
            # Change plan and cancel act on a subscription that has not ended and is not already replaced.
            open_ = status != "terminated" and subscription.pk not in replaced
            rows.append({"subscription": subscription, "status": status, "badge": STATUS_BADGES.get(status, ""),
                         "period": period, "can_change": open_ and subscription.ends_at is None,
                         "can_cancel": open_})  # fmt: skip
        return rows

    def _usage(self, customer: Customer, now: datetime) -> list[dict]:
        out = []
        for usage in customer_usage(customer=customer, at=now):
            currency = usage.currency
            out.append({
                "usage": usage,
                "amount": money_with_currency(usage.amount, currency),
                "charges": [
                    {
                        "charge": line.charge,
                        "quantity": quantity_text(line.quantity),
                        "events": line.events_count,
                        "amount": money_with_currency(line.amount, currency),
                        "groups": [
                            {"group": ", ".join(f"{k}={v}" for k, v in group.group.items()),
                             "quantity": quantity_text(group.quantity),
                             "amount": money_with_currency(group.amount, currency) if group.amount is not None else ""}
                            for group in line.groups
                        ],
                    }
                    for line in usage.charges
                ],
            })  # fmt: skip
        return out

    def _entitlements(self, customer: Customer, now: datetime) -> dict:
        limits, others = [], []
        for entitlement in customer_entitlements(customer=customer, at=now):
            if entitlement.kind == Feature.Kind.LIMIT:
                limits.append({"entitlement": entitlement, "meter": limit_meter(entitlement)})
            else:
                others.append(entitlement)
        return {"limits": limits, "others": others}

    def _credits(self, customer: Customer, now: datetime) -> dict:
        summary = credit_summary(customer=customer, at=now)
        balances = [
            {
                "currency": currency,
                **{key: money_with_currency(value, currency) for key, value in totals.items()},
            }
            for currency, totals in summary["currencies"].items()
        ]
        grants = [
            {
                "grant": state.grant,
                "amount": money_with_currency(state.grant.amount, state.grant.currency),
                "remaining": money_with_currency(state.remaining, state.grant.currency),
                "available": money_with_currency(state.available, state.grant.currency),
                "status": "expired" if state.is_expired else "depleted" if state.remaining <= 0 else "active",
            }
            for state in summary["states"]
        ]
        ledger = (
            self.scoped(CreditLedgerEntry)
            .filter(customer=customer)
            .select_related("grant", "invoice")
            .order_by("-at", "-pk")[:LIST_LIMIT]
        )
        entries = [
            {
                "entry": entry,
                "amount": money_with_currency(entry.amount, entry.grant.currency),
                "invoice_url": invoice_url(entry.invoice_id) if entry.invoice_id else None,
            }
            for entry in ledger
        ]
        return {"balances": balances, "grants": grants, "ledger": entries}

    def _invoices(self, customer: Customer) -> list[dict]:
        invoices = (
            self.scoped(Invoice)
            .filter(customer=customer)
            .select_related("subscription")
            .order_by("-issued_at", "-pk")[:LIST_LIMIT]
        )
        return [
            {
                "invoice": invoice,
                "url": invoice_url(invoice.pk),
                "total": money_with_currency(invoice.total, invoice.currency),
                "credited": money_with_currency(invoice.credited, invoice.currency) if invoice.credited else "—",
                "due": money_with_currency(invoice.amount_due, invoice.currency),
                "badge": INVOICE_BADGES.get(invoice.status, ""),
            }
            for invoice in invoices
        ]

    def _users(self, customer: Customer) -> list[CustomerUser]:
        history = ProvisioningChange.objects.order_by("effective_at", "pk")
        return list(
            self.scoped(CustomerUser)
            .filter(customer=customer)
            .prefetch_related(Prefetch("changes", queryset=history))
            .order_by("deprovisioned_at", "external_id", "-provisioned_at")
        )


def _attach(form, detail) -> None:
    """A service's field errors onto the form (unknown fields become form-wide errors)."""
    for field, reasons in detail.items() if isinstance(detail, dict) else [(None, detail)]:
        reasons = reasons if isinstance(reasons, list) else [reasons]
        message = " ".join(str(reason) for reason in reasons)
        if field in form.fields:
            form.add_error(field, message)
        else:
            form.add_error(None, f"{field}: {message}" if field and field != "non_field_errors" else message)


class CustomerUserProvisionView(CustomerDetailView):
    http_method_names = ["post", "options"]

    def post(self, request, external_id):
        customer = self.customer()
        form = ProvisionForm(request.POST)
        if form.is_valid():
            try:
                user = user_provision(customer=customer, actor=Actor.for_user(request.user), **form.cleaned_data)
            except ValidationError as exc:
                _attach(form, exc.detail)
            except Conflict as exc:
                messages.error(request, str(exc.detail))
                return redirect("cockpit:customer", external_id=customer.external_id)
            else:
                messages.success(request, f"User {user.external_id} provisioned.")
                return redirect("cockpit:customer", external_id=customer.external_id)
        return self.render_to_response(self.page_context(customer, provision_form=form), status=400)


class CustomerUserDeprovisionView(CustomerDetailView):
    http_method_names = ["post", "options"]

    def post(self, request, external_id, pk):
        customer = self.customer()
        user = get_object_or_404(self.scoped(CustomerUser), customer=customer, pk=pk)
        form = DeprovisionForm(request.POST)
        if form.is_valid():
            try:
                user_deprovision(user=user, at=form.cleaned_data["at"], actor=Actor.for_user(request.user))
            except ValidationError as exc:
                _attach(form, exc.detail)
            else:
                messages.success(request, f"User {user.external_id} deprovisioned.")
                return redirect("cockpit:customer", external_id=customer.external_id)
        context = self.page_context(customer, deprovision_form=form, deprovision_user=user)
        return self.render_to_response(context, status=400)


class CustomerCreditGrantView(CustomerDetailView):
    http_method_names = ["post", "options"]

    def post(self, request, external_id):
        customer = self.customer()
        form = CreditGrantForm(request.POST)
        if form.is_valid():
            data = {name: value for name, value in form.cleaned_data.items() if value not in (None, "")}
            serializer = CreditGrantInputSerializer(data=data, context={"customer": customer})
            if serializer.is_valid():
                grant = credit_grant_create(merchant=request.merchant, customer=customer, **serializer.validated_data)
                messages.success(request, f"Granted {money_with_currency(grant.amount, grant.currency)}.")
                return redirect("cockpit:customer", external_id=customer.external_id)
            _attach(form, serializer.errors)
        return self.render_to_response(self.page_context(customer, grant_form=form), status=400)
