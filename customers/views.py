"""Cockpit: the customer list.

The customer page and the CSV import page (customers or subscriptions) compose several apps and live in billing:
``billing/customer_page/`` and ``billing/imports/``.
"""

from django import forms
from django.core.paginator import Paginator
from django.db.models import Q
from django.utils import timezone
from django.views.generic import TemplateView

from atlas.tenancy import MerchantPageMixin
from customers.models import Customer
from customers.selectors import customers_filter

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
