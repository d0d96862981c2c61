"""Hostile input at billing's edges (issue #14): every bad value a 400 naming the field, nothing written."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone
from openpyxl import load_workbook

from billing.credits.services import credit_grant_create
from billing.models import BillingRun, CreditGrant, CreditLedgerEntry, Invoice, Subscription
from billing.reports.exports import spreadsheet_text
from tests.cockpit.builders import at, customer, login, plan, run, subscribe

pytestmark = pytest.mark.django_db


def error_fields(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["type"] == "validation_error"
    return body["fields"]


@pytest.fixture
def acme(tenant):
    return customer(tenant.merchant, "acme", name="Acme")


# --- credit grants -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, reason",
    [
        ("1e400", "is too large (at most 15 digits before the point)"),
        (10**30, "is too large (at most 15 digits before the point)"),
        ("1000000000000000", "is too large (at most 15 digits before the point)"),
        (1.5, 'must be a decimal string such as "12.50", not a float'),
        ("NaN", "must be a finite number"),
        ("0", "must be greater than 0"),
        ("10.001", "has more decimals than USD allows"),
    ],
)
def test_it_refuses_a_credit_grant_amount_it_cannot_hold(api, acme, amount, reason):
    response = api.post("/api/v1/customers/acme/credit_grants", {"amount": amount}, format="json")
    assert error_fields(response) == {"amount": reason}
    assert CreditGrant.objects.count() == 0
    assert CreditLedgerEntry.objects.count() == 0


def test_it_refuses_a_grant_that_expires_before_it_is_granted(api, acme):
    response = api.post("/api/v1/customers/acme/credit_grants", {
        "amount": "10.00", "granted_at": "2026-03-01T00:00:00Z", "expires_at": "2026-02-01T00:00:00Z",
    }, format="json")  # fmt: skip
    assert error_fields(response) == {"expires_at": "must be after granted_at"}
    assert CreditGrant.objects.count() == 0


def test_it_refuses_a_grant_expiring_in_the_past_when_granted_now(api, acme):
    response = api.post("/api/v1/customers/acme/credit_grants", {
        "amount": "10.00", "expires_at": "2020-01-01T00:00:00Z",
    }, format="json")  # fmt: skip
    assert error_fields(response) == {"expires_at": "must be after now (the grant's granted_at)"}
    assert CreditGrant.objects.count() == 0


def test_a_backdated_grant_is_accepted_with_its_granted_at(api, acme):
    response = api.post("/api/v1/customers/acme/credit_grants", {
        "amount": "10.00", "granted_at": "2025-01-01T00:00:00Z", "expires_at": "2025-12-31T00:00:00Z",
    }, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    assert (response.json()["granted_at"], response.json()["amount"]) == ("2025-01-01T00:00:00Z", "10.00")
    assert CreditLedgerEntry.objects.get().at == at(2025, 1, 1)


def test_the_grant_service_refuses_an_expiry_before_the_grant_and_writes_nothing(tenant, acme):
    with pytest.raises(DjangoValidationError) as raised:
        credit_grant_create(merchant=tenant.merchant, customer=acme, amount=Decimal("5.00"), currency="USD",
                            granted_at=at(2026, 3, 1), expires_at=at(2026, 3, 1))  # fmt: skip
    assert raised.value.message_dict == {"expires_at": ["must be after granted_at"]}
    assert CreditGrant.objects.count() == 0


# --- instants outside the calendar ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "as_of, reason",
    [
        ("3000-01-01T00:00:00Z", "must not be later than now"),
        ("9999-12-31T23:59:59Z", "must not be later than now"),
        ("1999-12-31T23:59:59Z", "must not be before the year 2000"),
    ],
)
def test_a_billing_run_later_than_now_or_before_2000_is_refused(api, tenant, acme, as_of, reason):
    plan(tenant.merchant, "pro", base_fee="20.00")
    subscribe(tenant.merchant, acme, "pro", at(2026, 1, 1))
    fields = error_fields(api.post("/api/v1/billing/runs", {"as_of": as_of}, format="json"))
    assert list(fields) == ["as_of"] and fields["as_of"].startswith(reason)
    assert BillingRun.objects.count() == 0
    assert Invoice.objects.count() == 0


def test_run_billing_refuses_an_instant_in_the_future():
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    with pytest.raises(CommandError, match="--as-of: must not be later than now"):
        call_command("run_billing", "--as-of", tomorrow)
    assert BillingRun.objects.count() == 0


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/customers/acme/usage?at=9999-12-31T23:59:59Z",
        "/api/v1/customers/acme/entitlements?at=9999-12-31T23:59:59Z",
        "/api/v1/customers/acme/entitlements/anything?at=9999-12-31T23:59:59Z",
        "/api/v1/customers/acme/usage?at=1999-12-31T23:59:59Z",
    ],
)
def test_usage_and_entitlements_refuse_an_instant_outside_the_calendar(api, acme, path):
    assert error_fields(api.get(path)) == {"at": "must be between the years 2000 and 2999"}


@pytest.mark.parametrize(
    "path, param",
    [
        ("/api/v1/subscriptions?at=9999-12-31T23:59:59Z", "at"),
        ("/api/v1/subscriptions?active_at=9999-12-31T23:59:59Z", "active_at"),
        ("/api/v1/subscriptions/sub-1?at=9999-12-31T23:59:59Z", "at"),
    ],
)
def test_subscriptions_refuse_an_instant_outside_the_calendar(api, tenant, acme, path, param):
    plan(tenant.merchant, "pro", base_fee="20.00")
    subscribe(tenant.merchant, acme, "pro", at(2026, 1, 1), external_id="sub-1")
    assert error_fields(api.get(path)) == {param: "must be between the years 2000 and 2999"}


# --- taking over a book: subscriptions that began before the customer came to Atlas -----------------------------


def test_a_subscription_may_start_before_its_customer_was_created(api, tenant):
    plan(tenant.merchant, "pro", base_fee="20.00")
    customer(tenant.merchant, "acme", since=timezone.localdate())
    response = api.post("/api/v1/subscriptions", {
        "external_id": "sub-old", "customer": "acme", "plan": "pro", "start_date": "2025-10-01",
    }, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["started_at"] == "2025-10-01T00:00:00Z"
    run(tenant.merchant, at(2025, 12, 1, 6))
    invoices = Invoice.objects.filter(subscription__external_id="sub-old").order_by("issued_at")
    assert [(i.period_start, i.total) for i in invoices] == [
        (at(2025, 10, 1), Decimal("20.00")), (at(2025, 11, 1), Decimal("20.00")), (at(2025, 12, 1), Decimal("20.00")),
    ]  # fmt: skip


def test_a_backdated_subscription_is_billed_only_from_the_customers_go_live(api, tenant):
    plan(tenant.merchant, "pro", base_fee="20.00")
    customer(tenant.merchant, "acme", since=timezone.localdate(), billing_starts_on=at(2025, 11, 1).date())
    api.post("/api/v1/subscriptions", {
        "external_id": "sub-old", "customer": "acme", "plan": "pro", "start_date": "2025-10-01",
    }, format="json")  # fmt: skip
    run(tenant.merchant, at(2025, 12, 1, 6))
    billed = Invoice.objects.filter(subscription__external_id="sub-old", total__gt=0).order_by("issued_at")
    assert [(i.period_start, i.total) for i in billed] == [
        (at(2025, 11, 1), Decimal("20.00")), (at(2025, 12, 1), Decimal("20.00")),
    ]  # fmt: skip
    assert Subscription.objects.get().started_at == at(2025, 10, 1)


# --- exports run no formulas ---------------------------------------------------------------------------------

HOSTILE_NAMES = ["=cmd|' /C calc'!A0", "+SUM(1;2)", "@cmd", "-2+3+cmd|' /C calc'!A0", "\tTabbed", "Plain & Co"]
NEUTRALISED = ["'=cmd|' /C calc'!A0", "'+SUM(1;2)", "'@cmd", "'-2+3+cmd|' /C calc'!A0", "'\tTabbed", "Plain & Co"]


@pytest.mark.parametrize(
    "text, shown",
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=b", "a=b")],
)
def test_spreadsheet_text_prefixes_what_would_start_a_formula(text, shown):
    assert spreadsheet_text(text) == shown


@pytest.fixture
def hostile_book(tenant):
    m = tenant.merchant
    plan(m, "pro", base_fee="20.00")
    for index, name in enumerate(HOSTILE_NAMES):
        subscribe(m, customer(m, f"c{index}", name=name), "pro", at(2026, 1, 1), external_id=f"sub-{index}")
    run(m, at(2026, 1, 2))
    return m


def test_the_csv_export_neutralises_formulas_in_text(client, tenant, hostile_book):
    login(client, tenant)
    response = client.get("/exports/download/", {"kind": "invoices", "format": "csv", "start": "2026-01-01",
                                                  "end": "2026-01-31"})  # fmt: skip
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    names = sorted(row[3] for row in rows[1:])
    assert names == sorted(NEUTRALISED)
    assert sorted(row[14] for row in rows[1:]) == ["20.00"] * 6  # amounts stay numbers


def test_the_excel_export_holds_no_formula(client, tenant, hostile_book):
    login(client, tenant)
    response = client.get("/exports/download/", {"kind": "invoices", "format": "xlsx", "start": "2026-01-01",
                                                  "end": "2026-01-31"})  # fmt: skip
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    cells = [row[3] for row in sheet.iter_rows(min_row=2)]
    assert {cell.data_type for cell in cells} == {"s"}
    assert sorted(cell.value for cell in cells) == sorted(NEUTRALISED)
    assert [row[14].value for row in sheet.iter_rows(min_row=2)] == [20] * 6  # amounts stay numbers
