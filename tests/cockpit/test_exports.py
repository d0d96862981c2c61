"""Exports: invoices and usage for a period, as CSV and Excel, parsed back cell by cell."""

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from atlas.models import Merchant
from billing.models import Invoice
from tests.cockpit.builders import at, customer, ingest, login, login_viewer, metric, plan, run, subscribe

pytestmark = pytest.mark.django_db
D = Decimal
JAN = {"start": "2026-01-01", "end": "2026-01-31"}


@pytest.fixture
def billed(tenant, other_tenant):
    """Acme: 20.00/month in advance + 0.25 per call, from Jan 1 2026; three calls in January; billed to Feb 1."""
    m = tenant.merchant
    calls = metric(m, "calls")
    plan(
        m, "pro", base_fee="20.00", charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.25"}}]
    )
    cust = customer(m, "acme", name="Acme, Inc.")
    subscribe(m, cust, "pro", at(2026, 1, 1), external_id="sub-acme")
    ingest(m, cust, "calls", [at(2026, 1, 5), at(2026, 1, 6), at(2026, 1, 7)])
    run(m, at(2026, 2, 1))
    o = other_tenant.merchant
    plan(o, "foreign", base_fee="999.00")
    subscribe(o, customer(o, "spy", name="Foreign Co"), "foreign", at(2026, 1, 1))
    run(o, at(2026, 2, 1))
    return m


def download(client, **params):
    response = client.get("/exports/download/", params)
    assert response.status_code == 200, response.content[:500]
    return response, b"".join(response.streaming_content)


def test_invoices_export_as_csv(client, tenant, billed):
    login(client, tenant)
    response, body = download(client, kind="invoices", format="csv", **JAN)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="acme-cloud-invoices-2026-01-01-2026-01-31.csv"'
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows == [
        ["number", "status", "customer_external_id", "customer_name", "subscription", "currency", "period_start",
         "period_end", "issued_at", "due_at", "subtotal", "credits_applied", "tax_rate", "tax", "total", "credited",
         "amount_paid", "amount_due"],
        ["INV-2026-000001", "finalized", "acme", "Acme, Inc.", "sub-acme", "USD", "2026-01-01T00:00:00+00:00",
         "2026-02-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", "2026-01-31T00:00:00+00:00", "20.00", "0.00", "0",
         "0.00", "20.00", "0.00", "0.00", "20.00"],
    ]  # fmt: skip


def test_usage_exports_as_csv_per_customer_metric_and_period(client, tenant, billed):
    login(client, tenant)
    _, body = download(client, kind="usage", format="csv", **JAN)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert rows == [{
        "customer_external_id": "acme", "customer_name": "Acme, Inc.", "subscription": "sub-acme", "metric": "calls",
        "group": "", "service_start": "2026-01-01T00:00:00+00:00", "service_end": "2026-02-01T00:00:00+00:00",
        "quantity": "3", "events_count": "3", "amount": "0.75", "currency": "USD", "line_type": "usage",
        "invoice_number": "INV-2026-000002", "invoice_status": "finalized",
    }]  # fmt: skip


def test_invoices_export_as_excel(client, tenant, billed):
    login(client, tenant)
    response, body = download(client, kind="invoices", format="xlsx", start="2026-01-01", end="2026-02-28")
    assert response["Content-Disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(body)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert sheet.title == "Invoices"
    assert rows[0][:3] == ("number", "status", "customer_external_id")
    assert [row[0] for row in rows[1:]] == ["INV-2026-000001", "INV-2026-000002"]
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["issued_at"] == datetime(2026, 2, 1)
    assert (D(str(second["subtotal"])), D(str(second["total"])), D(str(second["amount_due"]))) == (
        D("20.75"),
        D("20.75"),
        D("20.75"),
    )
    assert sheet.cell(row=3, column=11).number_format == "#,##0.00"


def test_usage_exports_as_excel(client, tenant, billed):
    login(client, tenant)
    _, body = download(client, kind="usage", format="xlsx", **JAN)
    rows = list(load_workbook(io.BytesIO(body)).active.iter_rows(values_only=True))
    record = dict(zip(rows[0], rows[1], strict=True))
    assert len(rows) == 2
    assert (record["metric"], D(str(record["quantity"])), record["events_count"], D(str(record["amount"]))) == (
        "calls",
        D("3"),
        3,
        D("0.75"),
    )
    assert record["service_start"] == datetime(2026, 1, 1)


def test_times_are_local_to_the_merchant(client, tenant, billed):
    Merchant.objects.filter(pk=billed.pk).update(timezone="America/New_York")
    login(client, tenant)
    _, body = download(client, kind="invoices", format="csv", start="2025-12-31", end="2025-12-31")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [row["issued_at"] for row in rows] == ["2025-12-31T19:00:00-05:00"]


def test_another_merchants_rows_never_export(client, tenant, billed):
    login(client, tenant)
    for kind in ("invoices", "usage"):
        _, body = download(client, kind=kind, format="csv", start="2025-01-01", end="2026-12-31")
        assert b"Foreign" not in body and b"999" not in body


@pytest.mark.parametrize(
    ("params", "field"),
    [({"kind": "payments", "format": "csv", **JAN}, "kind"), ({"kind": "usage", "format": "pdf", **JAN}, "format"),
     ({"kind": "usage", "format": "csv", "start": "2026-02-01", "end": "2026-01-01"}, "end"),
     ({"kind": "usage", "format": "csv", "start": "yesterday", "end": "2026-01-01"}, "start"),
     ({"kind": "usage", "format": "csv"}, "start")],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field(client, tenant, params, field):
    login(client, tenant)
    response = client.get("/exports/download/", params)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert b'data-testid="form-errors"' in response.content


def test_the_exports_page_answers_admins_viewers_and_not_strangers(client, tenant, billed):
    assert client.get("/exports/").status_code == 302
    assert client.get("/exports/download/", {"kind": "usage", "format": "csv", **JAN})["Location"].startswith("/login/")
    login(client, tenant)
    page = client.get("/exports/")
    assert page.status_code == 200
    assert b"Download" in page.content
    client.logout()
    login_viewer(client, tenant)
    assert client.get("/exports/").status_code == 200
    download(client, kind="invoices", format="csv", **JAN)
    assert client.post("/exports/").status_code == 403
    assert client.post("/exports/download/", {"kind": "usage"}).status_code == 403


def test_an_export_costs_the_same_queries_at_3_and_30_invoices(client, tenant, django_assert_max_num_queries):
    m = tenant.merchant
    plan(m, "basic", base_fee="10.00")
    login(client, tenant)
    counts = {"csv": [], "xlsx": []}
    for n, offset in ((3, 0), (30, 3)):
        for i in range(offset, n):
            subscribe(m, customer(m, f"c{i}"), "basic", at(2026, 1, 1))
        run(m, at(2026, 1, 1))
        assert Invoice.objects.filter(merchant=m).count() == n
        for fmt in counts:
            with CaptureQueriesContext(connection) as queries:
                _, body = download(client, kind="invoices", format=fmt, **JAN)
            counts[fmt].append(len(queries))
    assert counts["csv"][0] == counts["csv"][1]
    assert counts["xlsx"][0] == counts["xlsx"][1]
    with django_assert_max_num_queries(5):  # session, user, membership and merchant, the rows
        download(client, kind="usage", format="csv", **JAN)


def test_credit_notes_export_as_csv_and_excel(client, tenant, billed):
    from billing.credit_notes.services import credit_note_issue
    from billing.payments.services import invoice_mark_paid

    feb = Invoice.objects.get(merchant=billed, number="INV-2026-000002")  # 20.00 advance + 0.75 usage
    usage = feb.lines.get(type="usage")
    credit_note_issue(invoice=feb, lines=[(usage.pk, D("0.50"))], reason="billing_error", memo="Test calls",
                      at=at(2026, 2, 3, 9), actor="test")  # fmt: skip
    invoice_mark_paid(invoice=feb, at=at(2026, 2, 4))
    credit_note_issue(invoice=feb, lines=[(usage.pk, D("0.25"))], reason="duplicate", method="refund",
                      memo="\x07", at=at(2026, 2, 5, 9), actor="test")  # fmt: skip
    login(client, tenant)
    _, body = download(client, kind="credit_notes", format="csv", start="2026-02-01", end="2026-02-28")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert rows == [
        {"number": "INV-CN-2026-000001", "invoice_number": "INV-2026-000002", "customer_external_id": "acme",
         "customer_name": "Acme, Inc.", "currency": "USD", "issued_at": "2026-02-03T09:00:00+00:00",
         "reason": "billing_error", "memo": "Test calls", "subtotal": "0.50", "tax_rate": "0", "tax": "0.00",
         "total": "0.50", "amount_applied": "0.50", "amount_credited": "0.00", "amount_refunded": "0.00"},
        {"number": "INV-CN-2026-000002", "invoice_number": "INV-2026-000002", "customer_external_id": "acme",
         "customer_name": "Acme, Inc.", "currency": "USD", "issued_at": "2026-02-05T09:00:00+00:00",
         "reason": "duplicate", "memo": "\x07", "subtotal": "0.25", "tax_rate": "0", "tax": "0.00", "total": "0.25",
         "amount_applied": "0.00", "amount_credited": "0.00", "amount_refunded": "0.25"},
    ]  # fmt: skip
    assert download(client, kind="credit_notes", format="csv", **JAN)[1].decode().count("\n") == 1  # header only
    _, body = download(client, kind="credit_notes", format="xlsx", start="2026-02-01", end="2026-02-28")
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet.title == "Credit Notes"
    rows = list(sheet.iter_rows(values_only=True))
    assert [(row[0], D(str(row[11]))) for row in rows[1:]] == [("INV-CN-2026-000001", D("0.50")),
                                                               ("INV-CN-2026-000002", D("0.25"))]  # fmt: skip
    assert rows[2][7] is None  # the BEL a cell cannot hold is dropped (the CSV keeps it)
