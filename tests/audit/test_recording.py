"""The audit log records every change with who made it (staff user or API key), when, and old → new per field."""

from datetime import UTC, date, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile

from atlas.audit.context import acting_as
from atlas.models import ApiKey, AuditEntry, Merchant
from billing.runs.engine import billing_run
from catalog.models import Charge, Plan, PlanVersion
from customers.models import BillingRule, Customer
from tests.cockpit.builders import login

pytestmark = pytest.mark.django_db

CREATE, UPDATE, DELETE = AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE, AuditEntry.Action.DELETE


def entries(model, **filters):
    return AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(model), **filters).order_by("pk")


def test_a_cockpit_change_names_the_staff_user_and_each_field(client, tenant):
    login(client, tenant)
    before = AuditEntry.objects.count()
    data = {field: getattr(tenant.merchant, field) for field in (
        "name", "billing_day", "invoice_grace_hours", "invoice_prefix", "default_tax_rate", "timezone",
        "payment_terms_days", "company_name", "company_address", "company_email", "company_tax_id")}  # fmt: skip
    data.update(billing_day=15, invoice_prefix="ACME")
    assert client.post("/settings/", data).status_code == 302
    assert AuditEntry.objects.count() == before + 1
    entry = entries(Merchant).last()
    assert entry.action == UPDATE
    assert entry.merchant_id == tenant.merchant.pk
    assert entry.actor == tenant.user
    assert entry.actor_api_key is None
    assert entry.actor_label == "user owner@acme.test"
    assert entry.changes == {"billing_day": ["1", "15"], "invoice_prefix": ["INV", "ACME"]}


def test_an_api_change_names_the_api_key_and_keeps_the_label_when_the_key_is_gone(tenant):
    created = tenant.api.post("/api/v1/customers", {"external_id": "c1", "name": "Acme"}, format="json")
    assert created.status_code == 201
    assert tenant.api.patch("/api/v1/customers/c1", {"name": "Acme Inc"}, format="json").status_code == 200
    key = ApiKey.objects.get(merchant=tenant.merchant)
    create, update = entries(Customer)
    label = f"api key Default key ({key.prefix}…)"
    assert (create.action, create.actor_api_key, create.actor, create.actor_label) == (CREATE, key, None, label)
    assert create.changes["external_id"] == ["None", "c1"]
    assert (update.action, update.changes) == (UPDATE, {"name": ["Acme", "Acme Inc"]})
    assert update.object_pk == str(Customer.objects.get().pk)
    key.delete()
    update.refresh_from_db()
    assert (update.actor_api_key, update.actor_label) == (None, label)


def test_provisioned_users_and_billing_rules_are_recorded(tenant):
    tenant.api.post("/api/v1/customers", {"external_id": "c1", "name": "Acme"}, format="json")
    assert tenant.api.post("/api/v1/customers/c1/users", {"external_id": "u1", "email": "ann@acme.test"},
                           format="json").status_code == 201  # fmt: skip
    from customers.models import CustomerUser

    (user_entry,) = entries(CustomerUser)
    assert user_entry.changes["email"] == ["None", "ann@acme.test"]
    assert user_entry.actor_label.startswith("api key Default key")
    rule = tenant.api.post("/api/v1/billing_rules", {"name": "Tests", "target": "customer", "pattern": "*-test"},
                           format="json")  # fmt: skip
    assert rule.status_code == 201
    assert tenant.api.delete(f"/api/v1/billing_rules/{rule.json()['id']}").status_code == 204
    assert [entry.action for entry in entries(BillingRule)] == [CREATE, DELETE]


def test_a_csv_import_records_one_entry_per_created_and_changed_customer(tenant):
    def upload(text):
        return tenant.api.post("/api/v1/customers/import",
                               {"file": SimpleUploadedFile("c.csv", text.encode())}, format="multipart")  # fmt: skip

    assert upload("external_id,name,email\nc1,Acme,a@acme.test\nc2,Globex,\n").status_code == 200
    created = entries(Customer)
    assert [(e.action, e.object_repr) for e in created] == [(CREATE, "Acme (c1)"), (CREATE, "Globex (c2)")]
    assert created[0].changes["email"] == ["None", "a@acme.test"]
    assert all(e.actor_label.startswith("api key Default key") and e.merchant_id == tenant.merchant.pk
               for e in created)  # fmt: skip

    assert upload("external_id,name,email\nc1,Acme Inc,a@acme.test\nc2,Globex,\n").status_code == 200
    (changed,) = entries(Customer, action=UPDATE)
    assert changed.object_pk == str(Customer.objects.get(external_id="c1").pk)
    assert changed.changes == {"name": ["Acme", "Acme Inc"]}


def test_publishing_and_archiving_a_plan_record_the_state_change(tenant):
    from tests.catalog.builders import spec_catalog

    spec_catalog(tenant.merchant)
    plan = {"code": "pro", "name": "Pro", "currency": "USD", "base_fee": "10.00",
            "charges": [{"metric": "api_calls", "model": "per_unit", "unit_amount": "0.01"}]}  # fmt: skip
    assert tenant.api.post("/api/v1/plans", plan, format="json").status_code == 201
    assert entries(Charge, action=CREATE).count() == 1
    assert tenant.api.post("/api/v1/plans/pro/publish").status_code == 200
    published = entries(PlanVersion, action=UPDATE).last()
    assert published.changes["status"] == ["draft", "published"]
    assert published.actor_label.startswith("api key Default key")
    from catalog.services import plan_archive

    with acting_as(user=tenant.user):
        plan_archive(plan=Plan.objects.get(), at=datetime(2026, 1, 2, tzinfo=UTC))
    archived = entries(Plan, action=UPDATE).last()
    assert archived.changes == {"archived_at": ["None", "2026-01-02 00:00:00"]}  # UTC, as django-auditlog writes it
    assert archived.actor_label == "user owner@acme.test"


def test_revoking_a_key_in_the_cockpit_is_recorded(client, tenant):
    login(client, tenant)
    key = ApiKey.objects.get(merchant=tenant.merchant)
    assert client.post(f"/settings/api-keys/{key.pk}/revoke/").status_code == 302
    revoked = entries(ApiKey, action=UPDATE).get()
    assert list(revoked.changes) == ["revoked_at"]
    assert revoked.changes["revoked_at"][0] == "None"
    assert revoked.actor == tenant.user


def test_the_billing_run_writes_no_audit_entries_but_staff_invoice_changes_are_recorded(tenant):
    from tests.cockpit.builders import at, customer, plan, subscribe

    plan(tenant.merchant, "basic", base_fee="20")
    subscribe(tenant.merchant, customer(tenant.merchant, "c1"), "basic", date(2026, 1, 1))
    before = AuditEntry.objects.count()
    billing_run(as_of=at(2026, 2, 2))
    assert AuditEntry.objects.count() == before
    from billing.invoices.models import Invoice

    invoice = Invoice.objects.filter(status="finalized").first()
    assert invoice is not None
    assert tenant.api.post(f"/api/v1/invoices/{invoice.pk}/mark_paid").status_code == 200
    (paid,) = entries(Invoice)
    assert paid.changes["status"] == ["finalized", "paid"]
    assert paid.actor_label.startswith("api key Default key")


def test_entries_cannot_be_changed_or_deleted(tenant):
    entry = AuditEntry.objects.filter(merchant=tenant.merchant).first()
    entry.actor_label = "someone else"
    with pytest.raises(ValueError, match="immutable"):
        entry.save()
    with pytest.raises(ValueError, match="immutable"):
        entry.delete()
    entry.refresh_from_db()
    assert entry.actor_label == "system"


def test_a_created_merchant_lists_its_own_fields_not_its_relations(tenant):
    created = entries(Merchant, action=CREATE, object_pk=str(tenant.merchant.pk)).get()
    assert created.changes["name"] == ["None", "Acme Cloud"]
    assert "memberships" not in created.changes and "customers" not in created.changes
    assert created.actor_label == "system"
