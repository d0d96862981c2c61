"""Cockpit: the customer list, and the customer form: "New customer", "Edit customer", "Archive customer".

The customer page and the CSV import page (customers or subscriptions) compose several apps and live in billing:
``billing/customer_page/`` and ``billing/imports/``.
"""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.generic import TemplateView
from rest_framework.exceptions import ValidationError

from atlas.tenancy import MerchantEditMixin, MerchantPageMixin
from customers.forms import CustomerForm
from customers.models import Customer
from customers.selectors import customers_filter
from customers.services import customer_create, customer_delete, customer_has_history, customer_update

# --- the customer list -------------------------------------------------------------------------------------------

PAGE_SIZE = 50
YES_NO = [("", "Any"), ("yes", "Yes"), ("no", "No")]


class CustomerFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=255, label="Search name, external id or email")
    test = forms.ChoiceField(required=False, choices=YES_NO, label="Test customers")
    archived = forms.ChoiceField(
        required=False, choices=[("", "Hide"), ("include", "Include"), ("only", "Only archived")], label="Archived"
    )
    active = forms.ChoiceField(required=False, choices=YES_NO, label="Active subscription")


def _active_subscriptions(at) -> Q:
    # Through the reverse relation: the customers app does not import billing (docs/architecture.md).
    return Q(subscriptions__started_at__lte=at) & (
        Q(subscriptions__ends_at__isnull=True) | Q(subscriptions__ends_at__gt=at)
    )


class CustomerListView(MerchantPageMixin, TemplateView):
    """Search (name, external id, email), filters (test, archived, active subscription), 50 a page."""

    template_name = "customers/customer_list.html"

    def get(self, request, *args, **kwargs):
        form = CustomerFilterForm(request.GET)
        form.is_valid()  # every field is optional; an unknown choice is simply ignored
        data = {name: form.cleaned_data.get(name, "") for name in form.fields}
        archived = data["archived"]
        customers = customers_filter(
            self.scoped(Customer),
            search=data["q"].strip(),
            is_test={"yes": True, "no": False}.get(data["test"]),
            include_archived=bool(archived),
        )
        if archived == "only":
            customers = customers.filter(archived_at__isnull=False)
        now = timezone.now()
        if data["active"]:
            active_ids = self.scoped(Customer).filter(_active_subscriptions(now)).values("pk")
            customers = (
                customers.filter(pk__in=active_ids) if data["active"] == "yes" else customers.exclude(pk__in=active_ids)
            )
        paginator = Paginator(customers.order_by("name", "pk"), PAGE_SIZE)
        page = paginator.get_page(request.GET.get("page"))
        rows = _with_subscriptions(list(page.object_list), now)
        query = request.GET.copy()
        query.pop("page", None)
        context = self.get_context_data(form=form, page=page, rows=rows, query=query.urlencode(), now=now)
        return self.render_to_response(context)


def _with_subscriptions(customers: list[Customer], now) -> list[dict]:
    """Each customer with its current subscriptions (plan, version, trial), read in one query for the page."""
    current = (
        Customer.objects.filter(pk__in=[customer.pk for customer in customers])
        .filter(
            Q(subscriptions__started_at__isnull=False)
            & (Q(subscriptions__ends_at__isnull=True) | Q(subscriptions__ends_at__gt=now))
        )
        .values_list(
            "pk",
            "subscriptions__plan_version__plan__name",
            "subscriptions__plan_version__plan__code",
            "subscriptions__plan_version__version",
            "subscriptions__started_at",
            "subscriptions__trial_ends_at",
        )
        .order_by("pk", "subscriptions__started_at")
    )
    by_customer: dict[int, list[dict]] = {}
    for pk, plan_name, plan_code, version, started_at, trial_ends_at in current:
        if started_at > now:
            state = "pending"
        elif trial_ends_at is not None and now < trial_ends_at:
            state = "trialing"
        else:
            state = "active"
        by_customer.setdefault(pk, []).append(
            {"plan": plan_name, "code": plan_code, "version": version, "state": state, "started_at": started_at}
        )
    rows = []
    for customer in customers:
        subscriptions = by_customer.get(customer.pk, [])
        if customer.archived_at is not None:
            status = ("archived", "muted")
        elif any(sub["state"] == "active" for sub in subscriptions):
            status = ("active", "ok")
        elif any(sub["state"] == "trialing" for sub in subscriptions):
            status = ("trialing", "warn")
        elif subscriptions:
            status = ("starting", "warn")
        else:
            status = ("no subscription", "muted")
        rows.append({"customer": customer, "subscriptions": subscriptions, "status": status})
    return rows


# --- the customer form --------------------------------------------------------------------------------------------


def _attach(form, detail) -> None:
    """A service's field errors next to the field (the API's messages), others above the form."""
    for field, reasons in detail.items() if isinstance(detail, dict) else [(None, detail)]:
        reasons = reasons if isinstance(reasons, list) else [reasons]
        message = " ".join(str(reason) for reason in reasons)
        form.add_error(field if field in form.fields else None, message)


class CustomerCreateView(MerchantEditMixin, TemplateView):
    """New customer: the same service and field rules as ``POST /api/v1/customers``."""

    template_name = "customers/customer_form.html"

    def get(self, request):
        return self.render_to_response(self.get_context_data(form=CustomerForm(initial={"currency": "USD"})))

    def post(self, request):
        form = CustomerForm(request.POST)
        if form.is_valid():
            try:
                customer = customer_create(merchant=request.merchant, **form.cleaned_data)
            except ValidationError as exc:
                _attach(form, exc.detail)
            else:
                messages.success(request, f"Customer {customer.name} created.")
                return redirect("cockpit:customer", external_id=customer.external_id)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class _OneCustomer(MerchantEditMixin, TemplateView):
    def customer(self) -> Customer:
        return get_object_or_404(self.scoped(Customer), external_id=self.kwargs["external_id"])


class CustomerEditView(_OneCustomer):
    """Edit customer: ``PATCH /api/v1/customers/{id}``'s service; the external id never changes."""

    template_name = "customers/customer_form.html"

    def get(self, request, external_id):
        customer = self.customer()
        form = CustomerForm(initial=CustomerForm.initial_for(customer), customer=customer)
        return self.render_to_response(self.get_context_data(form=form, customer=customer))

    def post(self, request, external_id):
        customer = self.customer()
        form = CustomerForm(request.POST, initial=CustomerForm.initial_for(customer), customer=customer)
        if form.is_valid():
            changes = {name: value for name, value in form.cleaned_data.items() if name != "external_id"}
            try:
                customer = customer_update(customer=customer, **changes)
            except ValidationError as exc:
                _attach(form, exc.detail)
            else:
                messages.success(request, f"Customer {customer.name} saved.")
                return redirect("cockpit:customer", external_id=customer.external_id)
        return self.render_to_response(self.get_context_data(form=form, customer=customer), status=400)


class CustomerArchiveView(_OneCustomer):
    """Archive customer, after a confirmation: one with history is archived, one with none is deleted
    (``customer_delete``, as ``DELETE /api/v1/customers/{id}``)."""

    template_name = "customers/customer_archive.html"

    def get(self, request, external_id):
        customer = self.customer()
        context = self.get_context_data(customer=customer, has_history=customer_has_history(customer))
        return self.render_to_response(context)

    def post(self, request, external_id):
        customer = self.customer()
        name = customer.name
        archived = customer_delete(customer=customer)
        if archived is None:
            messages.success(request, f"Customer {name} had no history and was deleted.")
            return redirect("cockpit:customers")
        messages.success(request, f"Customer {name} is archived.")
        return redirect("cockpit:customer", external_id=archived.external_id)
