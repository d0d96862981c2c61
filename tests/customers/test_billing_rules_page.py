"""The Billing rules page (SPEC §10): what each rule excludes today; admins edit through the services."""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from customers.models import BillingRule, Customer
from customers.services import billing_rule_create, customer_create
from metering.provisioning import Actor, user_provision
from tests.cockpit.builders import login, login_viewer
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


@pytest.fixture
def book(tenant):
    m = tenant.merchant
    acme = customer_create(merchant=m, external_id="acme", name="Acme")
    customer_create(merchant=m, external_id="acme-test", name="Acme Sandbox")
    customer_create(merchant=m, external_id="qa", name="QA", is_test=True)
    customer_create(merchant=m, external_id="late", name="Late Co", billing_starts_on=today() + timedelta(days=10))
    customer_create(merchant=m, external_id="gone", name="Gone Co", billing_starts_on=date(2020, 1, 1),
                    billing_ends_on=today() - timedelta(days=1))  # fmt: skip
    actor = Actor(label="test")
    user_provision(customer=acme, external_id="u1", email="admin@acme.test", name="Root", actor=actor)
    user_provision(customer=acme, external_id="u2", email="ann@acme.test", name="Ann", actor=actor)
    billing_rule_create(merchant=m, name="Sandboxes", target="customer", pattern="*-test")
    billing_rule_create(merchant=m, name="Admins", target="user", pattern="admin@*")
    billing_rule_create(merchant=m, name="Later", target="customer", pattern="acme", starts_on=today() + timedelta(5))
    return tenant


def rule_row(html: str, name: str) -> str:
    rule = BillingRule.objects.get(name=name)
    return re.search(rf'<tr data-rule="{rule.pk}">(.*?)</tr>', html, re.S).group(1)


def test_each_rule_shows_what_it_excludes_today(client, book):
    login(client, book)
    page = client.get("/billing-rules/")
    assert page.status_code == 200
    html = page.content.decode()
    assert re.sub(r"\s+", " ", rule_row(html, "Sandboxes")).count("1 customer: Acme Sandbox (acme-test)") == 1
    assert "1 user: admin@acme.test at acme" in re.sub(r"\s+", " ", rule_row(html, "Admins"))
    later = re.sub(r"\s+", " ", rule_row(html, "Later"))
    assert "not in force today" in later and "would match 1: Acme (acme)" in later
    assert "3 customers not billed today because of their test flag, go-live date or departure." in html
    assert re.search(r"Test customers \(never billed\)</dt>\s*<dd>QA \(qa\)</dd>", html)
    assert re.search(r"Not live yet.*?<dd>Late Co \(late\) from ", html, re.S)
    assert re.search(r"Departed.*?<dd>Gone Co \(gone\) since ", html, re.S)


def test_an_admin_creates_a_rule(client, tenant):
    login(client, tenant)
    response = client.post("/billing-rules/", {"name": "Internal", "target": "user", "pattern": " *@internal.test "})
    assert response.status_code == 302
    rule = BillingRule.objects.get(merchant=tenant.merchant)
    assert (rule.name, rule.target, rule.pattern, rule.starts_on, rule.ends_on) == (
        "Internal", "user", "*@internal.test", None, None)  # fmt: skip


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "target": "user", "pattern": "x"}, "name", "This field is required."),
        ({"name": "X", "target": "planet", "pattern": "x"}, "target", "Select a valid choice."),
        ({"name": "X", "target": "user", "pattern": "  "}, "pattern", "This field is required."),
        ({"name": "X", "target": "user", "pattern": "x", "starts_on": "2026-02-01", "ends_on": "2026-01-01"},
         "ends_on", "must be after starts_on"),
        ({"name": "X", "target": "user", "pattern": "x", "starts_on": "soon"}, "starts_on", "Enter a valid date."),
    ],
)
def test_a_bad_rule_names_the_field_and_changes_nothing(client, tenant, data, field, message):
    login(client, tenant)
    response = client.post("/billing-rules/", data)
    assert response.status_code == 400
    assert re.search(rf'data-field="{field}">[^<]*{re.escape(message)}', response.content.decode())
    assert not BillingRule.objects.exists()


def test_an_admin_edits_and_deletes_a_rule(client, book):
    rule = BillingRule.objects.get(name="Sandboxes")
    login(client, book)
    assert client.get(f"/billing-rules/{rule.pk}/").status_code == 200
    data = {"name": "Sandboxes", "target": "customer", "pattern": "*sandbox*", "starts_on": "", "ends_on": ""}
    assert client.post(f"/billing-rules/{rule.pk}/", data).status_code == 302
    rule.refresh_from_db()
    assert rule.pattern == "*sandbox*"
    bad = client.post(f"/billing-rules/{rule.pk}/", {**data, "starts_on": "2026-03-01", "ends_on": "2026-03-01"})
    assert bad.status_code == 400 and b"must be after starts_on" in bad.content
    rule.refresh_from_db()
    assert (rule.starts_on, rule.ends_on) == (None, None)
    assert client.post(f"/billing-rules/{rule.pk}/delete/").status_code == 302
    assert not BillingRule.objects.filter(pk=rule.pk).exists()


def test_an_admin_sets_a_customers_go_live_departure_and_test_flag(client, book):
    login(client, book)
    data = {"customer": "acme", "billing_starts_on": "2026-01-01", "billing_ends_on": "2026-07-01", "is_test": "on"}
    assert client.post("/billing-rules/customer/", data).status_code == 302
    acme = Customer.objects.get(external_id="acme")
    assert (acme.billing_starts_on, acme.billing_ends_on, acme.is_test) == (date(2026, 1, 1), date(2026, 7, 1), True)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"customer": "nobody"}, "customer", "no customer with this external ID"),
        ({"customer": "acme", "billing_starts_on": "2026-05-01", "billing_ends_on": "2026-01-01"},
         "billing_ends_on", "must be after billing_starts_on"),
        ({"customer": "acme", "billing_starts_on": "1st of May"}, "billing_starts_on", "Enter a valid date."),
    ],
)
def test_a_bad_customer_window_names_the_field_and_changes_nothing(client, book, data, field, message):
    login(client, book)
    response = client.post("/billing-rules/customer/", data)
    assert response.status_code == 400
    assert re.search(rf'data-field="{field}">[^<]*{re.escape(message)}', response.content.decode())
    acme = Customer.objects.get(external_id="acme")
    assert (acme.billing_starts_on, acme.billing_ends_on, acme.is_test) == (None, None, False)


def test_viewers_read_the_rules_but_cannot_change_them(client, book):
    rule = BillingRule.objects.get(name="Sandboxes")
    login_viewer(client, book)
    page = client.get("/billing-rules/")
    assert page.status_code == 200 and b"Add rule" not in page.content
    assert client.post("/billing-rules/", {"name": "X", "target": "user", "pattern": "x"}).status_code == 403
    assert client.post(f"/billing-rules/{rule.pk}/", {"name": "X", "target": "user", "pattern": "x"}).status_code == 403
    assert client.post(f"/billing-rules/{rule.pk}/delete/").status_code == 403
    assert client.post("/billing-rules/customer/", {"customer": "acme", "is_test": "on"}).status_code == 403
    assert BillingRule.objects.count() == 3 and not Customer.objects.get(external_id="acme").is_test


def test_another_merchants_rules_and_customers_are_not_found(client, tenant):
    other = Tenant("Globex", "owner@globex.test")
    theirs = billing_rule_create(merchant=other.merchant, name="Theirs", target="customer", pattern="*")
    customer_create(merchant=other.merchant, external_id="g1", name="Globex Customer")
    login(client, tenant)
    assert b"Theirs" not in client.get("/billing-rules/").content
    assert client.get(f"/billing-rules/{theirs.pk}/").status_code == 404
    assert client.post(f"/billing-rules/{theirs.pk}/delete/").status_code == 404
    response = client.post("/billing-rules/customer/", {"customer": "g1", "is_test": "on"})
    assert response.status_code == 400
    assert not Customer.objects.get(external_id="g1").is_test
    assert BillingRule.objects.filter(pk=theirs.pk).exists()
