"""Cockpit: the customer list, and the customer CSV upload (previewed before anything is written).

The customer page itself composes every app and lives in ``billing/customer_page/``.
"""

import uuid

from django import forms
from django.contrib import messages
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import redirect
from django.utils import timezone
from django.views.generic import TemplateView

from atlas.api.exceptions import Conflict
from atlas.tenancy import MerchantEditMixin, MerchantPageMixin
from customers.csv_import import customers_import
from customers.forms import CustomerImportConfirmForm, CustomerImportForm
from customers.models import Customer
from customers.selectors import customers_filter

PREVIEW_CHANGES = 200
SESSION_KEY = "customer_import_tokens"


class CustomerImportView(MerchantEditMixin, TemplateView):
    """Upload → preview (a dry run, with every row error) → confirm (the same file, imported)."""

    template_name = "customers/import.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", CustomerImportForm())
        return context

    def post(self, request):
        if "token" in request.POST:
            return self._confirm(request)
        form = CustomerImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        data = form.cleaned_data["file"].read()
        report = customers_import(merchant=request.merchant, data=data, dry_run=True)
        context = {
            "form": CustomerImportForm(),
            "report": report,
            "filename": form.cleaned_data["file"].name,
            "changes": report.changes[:PREVIEW_CHANGES],
            "errors": report.errors[:1000],
        }
        if report.ok:
            token = uuid.uuid4().hex
            default_storage.save(self._path(token), ContentFile(data))
            request.session[SESSION_KEY] = [*request.session.get(SESSION_KEY, [])[-4:], token]
            context["confirm_form"] = CustomerImportConfirmForm(initial={"token": token})
        return self.render_to_response(self.get_context_data(**context), status=200 if report.ok else 400)

    def _confirm(self, request):
        form = CustomerImportConfirmForm(request.POST)
        tokens = request.session.get(SESSION_KEY, [])
        if not form.is_valid() or form.cleaned_data["token"] not in tokens:
            messages.error(request, "This preview has expired; upload the file again.")
            return redirect("cockpit:customer-import")
        token = form.cleaned_data["token"]
        path = self._path(token)
        if not default_storage.exists(path):
            messages.error(request, "This preview has expired; upload the file again.")
            return redirect("cockpit:customer-import")
        with default_storage.open(path, "rb") as stored:
            data = stored.read()
        try:
            report = customers_import(merchant=request.merchant, data=data, dry_run=False)
        except Conflict as exc:
            messages.error(request, str(exc.detail))
            return redirect("cockpit:customer-import")
        default_storage.delete(path)
        request.session[SESSION_KEY] = [t for t in tokens if t != token]
        if not report.ok:
            # The customers changed between preview and confirm: show the new errors.
            context = {"report": report, "errors": report.errors[:1000], "changes": []}
            return self.render_to_response(self.get_context_data(**context), status=400)
        messages.success(
            request,
            f"Imported {report.rows} rows: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged.",
        )
        return redirect("cockpit:customer-import")

    def _path(self, token: str) -> str:
        # The merchant is part of the path: a token never opens another merchant's upload.
        return f"customer-imports/{self.request.merchant.pk}/{token}.csv"


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
