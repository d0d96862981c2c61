"""The Audit log page: filters (type, actor, object, dates), pagination, old → new values, tenancy."""

import re
from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType

from atlas.audit import views
from atlas.audit.context import acting_as
from atlas.models import AuditEntry
from customers.models import BillingRule, Customer
from customers.services import billing_rule_create, customer_create, customer_update
from tests.cockpit.builders import login, login_viewer
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def objects_shown(response) -> list[str]:
    return re.findall(r'object_id=[^"]+">([^<]+)</a>', response.content.decode())


@pytest.fixture
def history(tenant):
    with acting_as(user=tenant.user):
        acme = customer_create(merchant=tenant.merchant, external_id="c1", name="Acme")
        customer_update(customer=acme, name="Acme Inc")
    with acting_as(system_label="csv import"):
        billing_rule_create(merchant=tenant.merchant, name="Tests", target="customer", pattern="*-test")
    return acme


def test_the_page_shows_who_what_and_old_to_new(client, tenant, history):
    login(client, tenant)
    page = client.get("/audit-log/")
    assert page.status_code == 200
    html = page.content.decode()
    assert objects_shown(page)[:3] == ["exclude customer *-test", "Acme Inc (c1)", "Acme (c1)"]
    assert re.search(r"<th scope=\"row\">name</th><td class=\"old\">Acme</td>.*?<td class=\"new\">Acme Inc</td>", html)
    assert "user owner@acme.test" in html and "csv import" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=customers.customer", ["Acme Inc (c1)", "Acme (c1)"]),
        ("type=customers.billingrule", ["exclude customer *-test"]),
        ("actor=csv", ["exclude customer *-test"]),
        ("object=acme&action=1", ["Acme Inc (c1)"]),
        ("since=2000-01-01&until=2000-01-31", []),
    ],
)
def test_filters_narrow_the_entries(client, tenant, history, query, expected):
    login(client, tenant)
    response = client.get(f"/audit-log/?{query}")
    assert response.status_code == 200
    assert objects_shown(response) == expected


def test_the_object_id_filter_is_one_objects_history(client, tenant, history):
    login(client, tenant)
    response = client.get(f"/audit-log/?type=customers.customer&object_id={history.pk}")
    assert objects_shown(response) == ["Acme Inc (c1)", "Acme (c1)"]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("type=nothing.here", "type", "Select a valid choice."),
        ("since=yesterday", "since", "Enter a valid date."),
        ("since=2026-02-01&until=2026-01-01", "until", "must be on or after From"),
        ("action=9", "action", "Select a valid choice."),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(client, tenant, history, query, field, message):
    login(client, tenant)
    response = client.get(f"/audit-log/?{query}")
    assert response.status_code == 400
    assert re.search(rf'data-field="{field}">[^<]*{re.escape(message)}', response.content.decode())
    assert objects_shown(response) == []


def test_the_log_is_paginated(client, tenant, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    with acting_as(user=tenant.user):
        for n in range(3):
            customer_create(merchant=tenant.merchant, external_id=f"c{n}", name=f"C{n}")
    login(client, tenant)
    first = client.get("/audit-log/?type=customers.customer")
    assert objects_shown(first) == ["C2 (c2)", "C1 (c1)"]
    assert "Page 1 of 2 (3 entries)" in first.content.decode()
    second = client.get("/audit-log/?type=customers.customer&page=2")
    assert objects_shown(second) == ["C0 (c0)"]
    assert client.get("/audit-log/?page=abc").status_code == 200


def test_another_merchants_entries_are_never_shown(client, tenant, history):
    other = Tenant("Globex", "owner@globex.test")
    customer_create(merchant=other.merchant, external_id="g1", name="Globex Customer")
    login(client, tenant)
    page = client.get("/audit-log/?object=globex")
    assert objects_shown(page) == []
    assert "Globex" not in client.get("/audit-log/").content.decode()


def test_a_viewer_reads_the_log(client, tenant, history):
    login_viewer(client, tenant)
    assert client.get("/audit-log/").status_code == 200
    assert client.post("/audit-log/").status_code == 403


def test_the_history_include_shows_one_objects_entries(client, tenant):
    with acting_as(user=tenant.user):
        rule = billing_rule_create(merchant=tenant.merchant, name="Tests", target="customer", pattern="*-test")
        from customers.services import billing_rule_update

        billing_rule_update(rule=rule, pattern="*-sandbox")
        billing_rule_create(merchant=tenant.merchant, name="Other", target="user", pattern="admin@*")
    login(client, tenant)
    page = client.get(f"/billing-rules/{rule.pk}/")
    html = page.content.decode()
    section = html[html.index('data-testid="audit-history"'):]
    assert re.findall(r"<td>(Create|Update|Delete) ([^<]+)</td>", section) == [
        ("Update", "exclude customer *-sandbox"),
        ("Create", "exclude customer *-test"),
    ]  # this rule's entries only, newest first
    assert re.search(r"pattern</th><td class=\"old\">\*-test</td>.*?\*-sandbox", section)
    assert f"?type=customers.billingrule&amp;object_id={rule.pk}" in section


def test_entries_are_dated_and_keep_the_merchant(tenant):
    with acting_as(user=tenant.user):
        customer_create(merchant=tenant.merchant, external_id="c9", name="Nine")
    entry = AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(Customer)).get()
    assert entry.merchant == tenant.merchant
    assert abs((entry.timestamp - datetime.now(UTC)).total_seconds()) < 60
    assert not AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(BillingRule)).exists()
