"""Receivables aging and customer statements (docs/receivables.md), on one book of invoices (UTC, 30 days' terms,
no tax, fees billed in advance on the 1st):

- a: 100.00 a month from Jan 1, 2026. Jan paid only on Apr 20; Feb paid 30.00 on Mar 10; Mar credited 10.00 on
  Apr 10; Apr paid on Apr 2, 25.00 of it refunded on Apr 12.
- b: 40.00 a month from Dec 1, 2025; every invoice but December's paid on its issue day.
- c: 200.00 EUR a month from Mar 1, 2026, nothing paid.
- d: 60.00 a month from Mar 1, 2026; March's invoice voided on Apr 5.
"""

import io
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader

from billing.credit_notes.services import credit_note_issue
from billing.invoices.services import invoice_void
from billing.models import Invoice
from billing.payments.models import Payment
from billing.payments.services import invoice_mark_paid, payment_record, payment_refund
from billing.reports.journal import journal_rows
from billing.reports.receivables import receivables_report
from billing.runs.engine import billing_run
from billing.statements.selectors import customer_statement
from customers.models import Customer
from tests.billing.test_invoices_helpers import D, at, customer, plan, subscribe

pytestmark = pytest.mark.django_db


def _inv(external_id: str, month: int, year: int = 2026) -> Invoice:
    return Invoice.objects.get(customer__external_id=external_id, issued_at=at(year, month, 1))


def build_book(merchant) -> None:
    for code, fee, currency in (("a", "100.00", "USD"), ("b", "40.00", "USD"), ("c", "200.00", "EUR"),
                                ("d", "60.00", "USD")):  # fmt: skip
        version = plan(merchant, f"plan-{code}", base_fee=fee, currency=currency)
        start = {"a": at(2026, 1, 1), "b": at(2025, 12, 1)}.get(code, at(2026, 3, 1))
        subscribe(merchant, customer(merchant, code, currency=currency), version, start, external_id=f"sub-{code}")
    for year, month in ((2025, 12), (2026, 1), (2026, 2), (2026, 3), (2026, 4)):
        billing_run(as_of=at(year, month, 1, 12), merchant=merchant)
        if (year, month) != (2025, 12):
            invoice_mark_paid(invoice=_inv("b", month, year), at=at(year, month, 1, 13), actor="test")
    payment_record(invoice=_inv("a", 2), amount=D("30.00"), method="bank_transfer", paid_at=at(2026, 3, 10),
                   reference="a feb part", actor="test")  # fmt: skip
    april = payment_record(invoice=_inv("a", 4), amount=D("100.00"), method="card", paid_at=at(2026, 4, 2),
                           actor="test")  # fmt: skip
    invoice_void(invoice=_inv("d", 3), at=at(2026, 4, 5), actor="test")
    march = _inv("a", 3)
    credit_note_issue(invoice=march, lines=[(march.lines.get().pk, D("10.00"))], reason="billing_error",
                      at=at(2026, 4, 10), actor="test")  # fmt: skip
    payment_refund(payment=april, amount=D("25.00"), refunded_at=at(2026, 4, 12), actor="test")
    payment_record(invoice=_inv("a", 1), amount=D("100.00"), method="check", paid_at=at(2026, 4, 20), actor="test")


@pytest.fixture
def book(tenant):
    build_book(tenant.merchant)
    return tenant.merchant


def test_aging_buckets_what_was_due_at_the_close_of_the_day(book):
    report = receivables_report(merchant=book, as_of=date(2026, 4, 15))
    assert report == {
        "as_of": "2026-04-15",
        "results": [
            {"customer": "a", "customer_name": "A Inc.", "currency": "USD", "current": "25.00", "1_30": "90.00",
             "31_60": "70.00", "61_90": "100.00", "over_90": "0.00", "total": "285.00"},
            {"customer": "b", "customer_name": "B Inc.", "currency": "USD", "current": "0.00", "1_30": "0.00",
             "31_60": "0.00", "61_90": "0.00", "over_90": "40.00", "total": "40.00"},
            {"customer": "c", "customer_name": "C Inc.", "currency": "EUR", "current": "200.00", "1_30": "200.00",
             "31_60": "0.00", "61_90": "0.00", "over_90": "0.00", "total": "400.00"},
            {"customer": "d", "customer_name": "D Inc.", "currency": "USD", "current": "60.00", "1_30": "0.00",
             "31_60": "0.00", "61_90": "0.00", "over_90": "0.00", "total": "60.00"},
        ],
        "totals": {
            "EUR": {"current": "200.00", "1_30": "200.00", "31_60": "0.00", "61_90": "0.00", "over_90": "0.00",
                    "total": "400.00"},
            "USD": {"current": "85.00", "1_30": "90.00", "31_60": "70.00", "61_90": "100.00", "over_90": "40.00",
                    "total": "385.00"},
        },
    }  # fmt: skip


def test_later_payments_notes_and_voids_do_not_change_an_earlier_day(book):
    first = {row["customer"]: row for row in receivables_report(merchant=book, as_of=date(2026, 4, 1))["results"]}
    # Apr 1: April not paid yet (current), February (29 days late, 30.00 paid) and March (1 day, not yet credited)
    # in 1_30, January 60 days late; d's March 1 day late and not yet void
    assert {key: first["a"][key] for key in ("current", "1_30", "31_60", "61_90", "total")} == {
        "current": "100.00", "1_30": "170.00", "31_60": "100.00", "61_90": "0.00", "total": "370.00"}  # fmt: skip
    assert (first["d"]["1_30"], first["d"]["current"]) == ("60.00", "60.00")
    later = {row["customer"]: row for row in receivables_report(merchant=book, as_of=date(2026, 4, 20))["results"]}
    assert (later["a"]["61_90"], later["a"]["total"]) == ("0.00", "185.00")  # January paid on Apr 20
    assert receivables_report(merchant=book, as_of=date(2025, 11, 30))["results"] == []


def test_the_statement_runs_from_opening_to_closing_balance_and_reconciles_with_aging(book):
    a = Customer.objects.get(merchant=book, external_id="a")
    statement = customer_statement(customer=a, currency="USD", start=date(2026, 2, 1), end=date(2026, 4, 15))
    assert statement.opening == D("100.00")
    assert [(row.at.date().isoformat(), row.kind, row.amount, row.balance) for row in statement.rows] == [
        ("2026-02-01", "invoice", D("100.00"), D("200.00")),
        ("2026-03-01", "invoice", D("100.00"), D("300.00")),
        ("2026-03-10", "payment", D("-30.00"), D("270.00")),
        ("2026-04-01", "invoice", D("100.00"), D("370.00")),
        ("2026-04-02", "payment", D("-100.00"), D("270.00")),
        ("2026-04-10", "credit_note", D("-10.00"), D("260.00")),
        ("2026-04-12", "refund", D("25.00"), D("285.00")),
    ]  # fmt: skip
    assert statement.closing == D("285.00")
    totals = statement.totals
    assert statement.closing == (statement.opening + totals["invoice"] + totals["payment"] + totals["credit_note"]
                                 + totals["refund"] + totals["credit_balance"] + totals["void"])  # fmt: skip
    aging = receivables_report(merchant=book, as_of=date(2026, 4, 15))["results"][0]
    assert aging["total"] == "285.00"


def test_the_statement_api_answers_json_and_a_pdf(book, api):
    answer = api.get("/api/v1/customers/a/statement?from=2026-02-01&to=2026-04-15")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["opening_balance"], body["closing_balance"], body["currency"]) == ("100.00", "285.00", "USD")
    assert [(row["type"], row["amount"], row["balance"]) for row in body["payments"]] == [
        ("payment", "-30.00", "270.00"), ("payment", "-100.00", "270.00")]  # fmt: skip
    assert body["payments"][0]["description"] == "Paid by bank transfer (a feb part)"
    assert body["totals"] == {"invoice": "300.00", "credit_note": "-10.00", "payment": "-130.00", "void": "0.00",
                              "refund": "25.00", "credit_balance": "0.00"}  # fmt: skip
    pdf = api.get("/api/v1/customers/a/statement?from=2026-02-01&to=2026-04-15&format=pdf")
    assert (pdf.status_code, pdf["Content-Type"]) == (200, "application/pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Statement of account" in text and "Closing balance · Apr 15, 2026" in text and "285.00 USD" in text
    assert "Opening balance · Feb 1, 2026" in text and "INV-CN-2026-000001" in text


def test_an_overpayment_leaves_nothing_owed_on_the_statement_and_balances_in_the_journal(tenant):
    version = plan(tenant.merchant, "solo", base_fee="100.00")
    e = customer(tenant.merchant, "e")
    subscribe(tenant.merchant, e, version, at(2026, 1, 1))
    billing_run(as_of=at(2026, 1, 1, 12), merchant=tenant.merchant)
    payment_record(invoice=Invoice.objects.get(customer=e), amount=D("150.00"), method="cash",
                   paid_at=at(2026, 1, 5), actor="test")  # fmt: skip
    statement = customer_statement(customer=e, currency="USD", start=date(2026, 1, 1), end=date(2026, 1, 31))
    assert [(row.kind, row.amount) for row in statement.rows] == [
        ("invoice", D("100.00")), ("payment", D("-150.00")), ("credit_balance", D("50.00"))]
    assert statement.closing == D("0.00")
    rows = journal_rows(merchant=tenant.merchant, start=date(2026, 1, 1), end=date(2026, 1, 31))
    payment = Payment.objects.get()
    moves = {(row.entry.split(":")[0], row.account): row.amount for row in rows if row.entry.split(":")[0] in (
        "payment", "credit_grant")}  # fmt: skip
    assert moves == {("payment", "cash"): D("150.00"), ("payment", "accounts_receivable"): D("-150.00"),
                     ("credit_grant", "accounts_receivable"): D("50.00"),
                     ("credit_grant", "customer_credit"): D("-50.00")}  # fmt: skip
    assert {row.payment for row in rows if row.entry.startswith(("payment", "credit_grant"))} == {str(payment.pk)}
    assert sum((row.amount for row in rows), Decimal(0)) == 0


@pytest.mark.parametrize("url, field", [
    ("/api/v1/reports/receivables?as_of=2026-02-30", "as_of"),
    ("/api/v1/reports/receivables?as_of=20260101", "as_of"),
    ("/api/v1/reports/receivables?as_of=3000-01-01", "as_of"),
    ("/api/v1/customers/a/statement?from=2026-04-01&to=2026-03-01", "to"),
    ("/api/v1/customers/a/statement?format=docx", "format"),
    ("/api/v1/customers/a/statement?currency=XXXX", "currency"),
])  # fmt: skip
def test_bad_query_strings_are_a_400_naming_the_field(book, api, url, field):
    answer = api.get(url)
    assert answer.status_code == 400
    assert list(answer.json()["error"]["fields"]) == [field]


def test_another_merchant_sees_no_receivables_and_no_statement(book, other_tenant):
    assert other_tenant.api.get("/api/v1/reports/receivables?as_of=2026-04-15").json()["results"] == []
    assert other_tenant.api.get("/api/v1/customers/a/statement").status_code == 404
