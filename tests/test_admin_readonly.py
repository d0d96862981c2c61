"""The Django admin never bypasses the services' rules: financial records, history, audit entries and every
record whose changes carry rules are read-only there (add, change and delete answer 403); the writes it offers
are actions calling the services, and merchant settings are saved through ``merchant_update``."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils import timezone

from atlas.admin import ReadOnlyAdmin
from atlas.models import ApiKey, AuditEntry, Merchant
from billing.credits.models import CreditApplication, CreditGrant
from billing.runs.engine import billing_run
from catalog.models import Metric, OneTimeFee, PlanVersion
from metering.services import metric_state_rebuild
from tests.conftest import Tenant
from tests.tenancy_data import populate

pytestmark = pytest.mark.django_db

READ_ONLY = [
    "atlas.Membership", "atlas.ApiKey", "atlas.AuditEntry",
    "catalog.Metric", "catalog.Feature", "catalog.Plan", "catalog.PlanVersion", "catalog.Charge",
    "catalog.PlanFeature", "catalog.OneTimeFee",
    "customers.Customer", "customers.CustomerUser", "customers.ProvisioningChange", "customers.BillingRule",
    "billing.Subscription", "billing.Invoice", "billing.InvoiceLine", "billing.InvoiceEvent", "billing.CreditNote",
    "billing.CreditNoteLine", "billing.CreditGrant", "billing.CreditLedgerEntry", "billing.CreditApplication",
    "billing.BillingRun", "metering.Event", "metering.MetricState",
]  # fmt: skip


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@atlas.test", "pw-root-123")
    client.force_login(user)
    return client


@pytest.fixture
def records(db):
    owner = Tenant("Owner Co", "owner@owner.test")
    ctx = populate(owner.merchant)
    # What the tenancy walk does not need: a one-time fee, a credit application, a usage state, a billing run.
    version = PlanVersion.objects.filter(merchant=owner.merchant).order_by("pk").first()
    OneTimeFee.objects.create(plan_version=version, name="Onboarding", amount="500.00")
    metric_state_rebuild(metric=Metric.objects.filter(merchant=owner.merchant).first(), force=True)
    grant = CreditGrant.objects.filter(merchant=owner.merchant).first()
    CreditApplication.objects.create(merchant=owner.merchant, invoice=ctx["invoice"], grant=grant, amount="1.00")
    billing_run(as_of=timezone.now(), merchant=owner.merchant)
    return owner


def _url(model, view, pk=None) -> str:
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    return {"add": f"{base}add/", "change": f"{base}{pk}/change/", "delete": f"{base}{pk}/delete/"}[view]


@pytest.mark.parametrize("label", READ_ONLY)
def test_a_read_only_admin_refuses_add_change_and_delete(admin_client, records, label):
    model = apps.get_model(label)
    model_admin = admin.site._registry[model]
    assert isinstance(model_admin, ReadOnlyAdmin) or not any(
        getattr(model_admin, f"has_{perm}_permission")(_Request()) for perm in ("add", "change", "delete")
    )
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"no {label} record to open"
    count = model._default_manager.count()
    # "Add subscription" points staff to the cockpit's Subscribe (the service's rules) instead of a bare 403.
    refused = 302 if label == "billing.Subscription" else 403
    assert admin_client.get(_url(model, "add")).status_code == refused
    assert admin_client.post(_url(model, "add"), {}).status_code == refused
    assert admin_client.get(_url(model, "change", obj.pk)).status_code == 200  # shown, read-only
    assert b'name="_save"' not in admin_client.get(_url(model, "change", obj.pk)).content
    assert admin_client.post(_url(model, "change", obj.pk), {}).status_code == 403
    assert admin_client.get(_url(model, "delete", obj.pk)).status_code == 403
    assert admin_client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    bulk = admin_client.post(changelist, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    assert model._default_manager.count() == count


class _Request:
    user = None


def test_every_model_of_atlas_is_in_the_admin():
    ours = {"atlas", "catalog", "customers", "billing", "metering"}
    registered = {model._meta.label for model in admin.site._registry}
    listed = set(READ_ONLY) | {"atlas.Merchant"}
    assert listed <= registered
    assert all(label in registered for label in READ_ONLY)
    assert {m._meta.label for m in apps.get_models() if m._meta.app_label in ours} - registered <= {
        "billing.InvoiceCounter", "metering.UsageBucket", "metering.EventCount"
    }


def test_merchant_settings_saved_in_the_admin_go_through_the_same_validation(admin_client, records):
    merchant = records.merchant
    url = f"/admin/atlas/merchant/{merchant.pk}/change/"
    form = admin_client.get(url)
    assert form.status_code == 200
    data = {name: getattr(merchant, name) for name in (
        "name", "billing_day", "invoice_grace_hours", "invoice_prefix", "default_tax_rate", "timezone",
        "payment_terms_days", "company_name", "company_address", "company_email", "company_tax_id", "locale",
        "payment_instructions")}  # fmt: skip
    data["dunning_days"] = "[]"
    data.update({"memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "1", "memberships-MIN_NUM_FORMS": "0",
                 "memberships-MAX_NUM_FORMS": "1000", "created_at_0": "", "created_at_1": ""})  # fmt: skip
    bad = admin_client.post(url, {**data, "billing_day": "31", "timezone": "Mars/Olympus"})
    assert bad.status_code == 200  # the form again, with the errors
    assert b"Ensure this value is less than or equal to 28." in bad.content
    assert b"is not a known IANA time zone" in bad.content
    merchant.refresh_from_db()
    assert (merchant.billing_day, merchant.timezone) == (1, "UTC")
    good = admin_client.post(url, {**data, "billing_day": "26"})
    assert good.status_code == 302
    merchant.refresh_from_db()
    assert merchant.billing_day == 26
    entry = AuditEntry.objects.filter(object_pk=str(merchant.pk), content_type__model="merchant").order_by("pk").last()
    assert entry.changes == {"billing_day": ["1", "26"]}, entry.changes
    assert entry.actor.username == "root"


def test_merchants_are_not_added_or_deleted_in_the_admin(admin_client, records):
    assert admin_client.get("/admin/atlas/merchant/add/").status_code == 403
    assert admin_client.post(f"/admin/atlas/merchant/{records.merchant.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Merchant.objects.filter(pk=records.merchant.pk).exists()


def test_keys_are_revoked_from_the_admin_through_the_service(admin_client, records):
    key = ApiKey.objects.get(merchant=records.merchant)
    response = admin_client.post("/admin/atlas/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    entry = AuditEntry.objects.filter(object_pk=str(key.pk), content_type__model="apikey", action=1).get()
    assert list(entry.changes) == ["revoked_at"] and entry.actor.username == "root"


@pytest.mark.parametrize("path", ["/admin/billing/invoice/", "/admin/customers/customer/", "/admin/atlas/auditentry/"])
def test_admin_lists_open(admin_client, records, path):
    assert admin_client.get(path).status_code == 200
