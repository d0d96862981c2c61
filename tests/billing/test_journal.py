"""The journal (docs/accounting.md): balanced double-entry rows, revenue recognised by day (IFRS 15).

The worked month, January 2026 (UTC, every customer taxed 10 %), is the one docs/accounting.md shows; this test
writes that section (``ATLAS_WRITE_DOCS=1``) and otherwise requires the document to match it:

- acme: "pro", 310.00 a month in advance (10.00 a day in January) + calls at 0.10 in arrears, from Jan 1.
  Invoice issued Jan 1: 310.00 + tax 31.00 = 341.00, paid Jan 10. Credit note Jan 21 on the base fee, 31.00 + tax
  3.10 = 34.10, given back as customer credit. 500 calls in January: 50.00 on the invoice issued Feb 1.
- bolt: "basic", 62.00 a month in arrears (2.00 a day): January's fee is on the invoice issued Feb 1. 25.00 of
  free credit granted Jan 5, expiring Jan 28 unused.
- cobalt: "lite", 93.00 a month in advance (3.00 a day): invoice issued Jan 1 (102.30 with tax), voided Jan 11.
"""

import csv
import io
import os
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from billing.credit_notes.services import credit_note_issue
from billing.credits.services import credit_grant_create
from billing.invoices.services import invoice_void
from billing.models import Invoice
from billing.payments.services import invoice_mark_paid
from billing.reports.journal import account_totals, journal_rows
from billing.reports.recognition import Schedule, month_spans
from billing.runs.engine import billing_run
from tests.billing.test_invoices_helpers import D, at, customer, event, metric, plan, subscribe

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "accounting.md"
JANUARY = (date(2026, 1, 1), date(2026, 1, 31))


def test_a_day_by_day_schedule_sums_exactly_to_its_amount():
    schedule = Schedule(D("100.00"), "USD", date(2026, 1, 1), date(2026, 1, 4))
    assert schedule.by_day() == [(date(2026, 1, 1), D("33.33")), (date(2026, 1, 2), D("33.34")),
                                 (date(2026, 1, 3), D("33.33"))]  # fmt: skip
    odd = Schedule(D("1234.57"), "USD", date(2026, 1, 10), date(2026, 2, 9))
    assert sum(amount for _, amount in odd.by_day()) == D("1234.57")
    assert odd.between(date(2026, 1, 10), date(2026, 2, 1)) + odd.between(date(2026, 2, 1), date(2026, 3, 1)) == D(
        "1234.57")  # fmt: skip
    jpy = Schedule(D("1000"), "JPY", date(2026, 2, 1), date(2026, 3, 1))
    assert [amount for _, amount in jpy.by_day()[:3]] == [D("36"), D("35"), D("36")]
    one_time = Schedule(D("500.00"), "USD", date(2026, 1, 5), date(2026, 1, 5))
    assert (one_time.through(date(2026, 1, 5)), one_time.through(date(2026, 1, 6))) == (D("0"), D("500.00"))
    assert month_spans(date(2026, 1, 15), date(2026, 3, 2)) == [
        (date(2026, 1, 15), date(2026, 1, 31)), (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 2))]  # fmt: skip


def worked_month(merchant) -> dict[str, Invoice]:
    calls = metric(merchant, "calls")
    pro = plan(merchant, "pro", base_fee="310.00", timing="in_advance",
               charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.10"}}])  # fmt: skip
    basic = plan(merchant, "basic", base_fee="62.00", timing="in_arrears")
    lite = plan(merchant, "lite", base_fee="93.00", timing="in_advance")
    acme = customer(merchant, "acme", tax_rate=D("0.1"), email="ap@acme.test")
    bolt = customer(merchant, "bolt", tax_rate=D("0.1"))
    cobalt = customer(merchant, "cobalt", tax_rate=D("0.1"))
    subscribe(merchant, acme, pro, at(2026, 1, 1), external_id="acme-pro")
    subscribe(merchant, bolt, basic, at(2026, 1, 1), external_id="bolt-basic")
    subscribe(merchant, cobalt, lite, at(2026, 1, 1), external_id="cobalt-lite")
    for n in range(500):
        event(acme, "calls", at(2026, 1, 1 + n % 31, 9))
    billing_run(as_of=at(2026, 1, 1, 12), merchant=merchant)
    first = Invoice.objects.get(customer=acme)
    credit_grant_create(merchant=merchant, customer=bolt, amount=D("25.00"), currency="USD", reason="Welcome",
                        granted_at=at(2026, 1, 5), expires_at=at(2026, 1, 28))  # fmt: skip
    invoice_mark_paid(invoice=first, at=at(2026, 1, 10, 15), actor="test")
    invoice_void(invoice=Invoice.objects.get(customer=cobalt), at=at(2026, 1, 11, 9), actor="test")  # before Feb
    credit_note_issue(invoice=Invoice.objects.get(pk=first.pk), lines=[(first.lines.get().pk, D("31.00"))],
                      reason="billing_error", at=at(2026, 1, 21, 10), actor="test")  # fmt: skip
    billing_run(as_of=at(2026, 1, 28, 12), merchant=merchant)
    billing_run(as_of=at(2026, 2, 1, 12), merchant=merchant)
    return {"acme": Invoice.objects.get(pk=first.pk),
            "cobalt": Invoice.objects.get(customer=cobalt, issued_at=at(2026, 1, 1))}  # fmt: skip


@pytest.fixture
def month(tenant):
    invoices = worked_month(tenant.merchant)
    assert (invoices["acme"].number, invoices["acme"].total, invoices["acme"].status) == (
        "INV-2026-000001", D("341.00"), "paid")  # fmt: skip
    assert (invoices["cobalt"].total, invoices["cobalt"].status) == (D("102.30"), "void")
    return tenant.merchant


def by_entry(rows) -> dict[str, list[tuple[str, Decimal]]]:
    entries: dict[str, list[tuple[str, Decimal]]] = {}
    for row in rows:
        entries.setdefault(row.entry, []).append((row.account, row.amount))
    return entries


def test_every_entry_of_the_worked_month_balances_and_each_account_totals_the_hand_computed_figure(month):
    rows = journal_rows(merchant=month, start=JANUARY[0], end=JANUARY[1])
    entries = by_entry(rows)
    for name, postings in entries.items():
        assert sum(amount for _, amount in postings) == 0, name
    cobalt = Invoice.objects.get(customer__external_id="cobalt", issued_at=at(2026, 1, 1)).number
    february = {inv.customer_external_id: inv.number for inv in Invoice.objects.filter(issued_at=at(2026, 2, 1))}
    assert entries == {
        "invoice:INV-2026-000001": [("accounts_receivable", D("341.00")), ("deferred_revenue", D("-310.00")),
                                    ("tax_payable", D("-31.00"))],
        f"invoice:{cobalt}": [("accounts_receivable", D("102.30")), ("deferred_revenue", D("-93.00")),
                              ("tax_payable", D("-9.30"))],
        "credit_grant:" + str(month.credit_grants.get(reason="Welcome").pk): [
            ("promotional_credits", D("25.00")), ("customer_credit", D("-25.00"))],
        f"payment:{month.payments.get().pk}": [("cash", D("341.00")), ("accounts_receivable", D("-341.00"))],
        f"void:{cobalt}": [("revenue", D("30.00")), ("deferred_revenue", D("63.00")), ("tax_payable", D("9.30")),
                           ("accounts_receivable", D("-102.30"))],
        "credit_note:INV-CN-2026-000001": [("revenue", D("20.00")), ("deferred_revenue", D("11.00")),
                                           ("tax_payable", D("3.10")), ("accounts_receivable", D("-34.10"))],
        "credit_grant:" + str(month.credit_grants.get(credit_note__isnull=False).pk): [
            ("accounts_receivable", D("34.10")), ("customer_credit", D("-34.10"))],
        "credit_expiry:" + str(month.credit_ledger.get(kind="expiry").pk): [
            ("customer_credit", D("25.00")), ("promotional_credits", D("-25.00"))],
        "recognition:INV-2026-000001:2026-01": [("deferred_revenue", D("299.00")), ("revenue", D("-299.00"))],
        f"recognition:{cobalt}:2026-01": [("deferred_revenue", D("30.00")), ("revenue", D("-30.00"))],
        f"recognition:{february['acme']}:2026-01": [("unbilled_receivables", D("50.00")), ("revenue", D("-50.00"))],
        f"recognition:{february['bolt']}:2026-01": [("unbilled_receivables", D("62.00")), ("revenue", D("-62.00"))],
    }  # fmt: skip
    balances = {account: sums["balance"] for account, sums in account_totals(rows)["USD"].items()}
    assert balances == {
        "cash": D("341.00"), "accounts_receivable": D("0.00"), "unbilled_receivables": D("112.00"),
        "deferred_revenue": D("0.00"), "customer_credit": D("-34.10"), "tax_payable": D("-27.90"),
        "revenue": D("-391.00"), "promotional_credits": D("0.00"),
    }  # fmt: skip
    assert {row.date for row in rows if row.entry.startswith("recognition")} == {date(2026, 1, 31)}


def test_february_reclassifies_the_accrual_and_months_add_up_to_the_span(month):
    february = journal_rows(merchant=month, start=date(2026, 2, 1), end=date(2026, 2, 28))
    for name, postings in by_entry(february).items():
        assert sum(amount for _, amount in postings) == 0, name
    issued = [row for row in february if row.entry.startswith("invoice:") and row.customer == "bolt"]
    assert [(row.account, row.amount) for row in issued] == [
        ("accounts_receivable", D("68.20")), ("unbilled_receivables", D("-62.00")), ("tax_payable", D("-6.20"))]
    january = journal_rows(merchant=month, start=JANUARY[0], end=JANUARY[1])
    both = journal_rows(merchant=month, start=JANUARY[0], end=date(2026, 2, 28))
    assert account_totals(january + february) == account_totals(both)
    halves = journal_rows(merchant=month, start=JANUARY[0], end=date(2026, 1, 15)) + journal_rows(
        merchant=month, start=date(2026, 1, 16), end=JANUARY[1])  # fmt: skip
    assert account_totals(halves) == account_totals(january)
    totals = account_totals(both)["USD"]
    assert totals["unbilled_receivables"]["balance"] == D("0.00")  # billed on Feb 1: the accrual is reclassified
    # + February's in-advance fees of acme and cobalt (bolt's February is billed on Mar 1)
    assert totals["revenue"]["balance"] == D("-391.00") - D("310.00") - D("93.00")


def test_the_api_answers_json_csv_and_a_workbook_with_one_sheet_per_month(month, api):
    answer = api.get("/api/v1/reports/journal?from=2026-01-01&to=2026-01-31")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["from"], body["to"], len(body["results"])) == ("2026-01-01", "2026-01-31", 30)
    assert body["results"][0] == {
        "date": "2026-01-01", "entry": "invoice:INV-2026-000001", "account": "accounts_receivable",
        "debit": "341.00", "credit": "0.00", "currency": "USD", "invoice": "INV-2026-000001", "payment": None,
        "credit_note": None, "customer": "acme"}  # fmt: skip
    assert body["totals"]["USD"]["revenue"] == {"debit": "50.00", "credit": "441.00", "balance": "-391.00"}

    text = b"".join(api.get("/api/v1/reports/journal?from=2026-01-01&to=2026-01-31&format=csv").streaming_content)
    table = list(csv.DictReader(io.StringIO(text.decode())))
    assert len(table) == 30 and table[0]["debit"] == "341.00" and table[0]["credit"] == "0.00"
    assert sum(D(r["debit"]) for r in table) == sum(D(r["credit"]) for r in table) == D("1445.80")

    workbook = api.get("/api/v1/reports/journal?from=2026-01-01&to=2026-02-28&format=xlsx")
    assert workbook.status_code == 200
    sheets = load_workbook(io.BytesIO(b"".join(workbook.streaming_content)), read_only=True)
    assert sheets.sheetnames == ["2026-01", "2026-02"]
    first = list(sheets["2026-01"].iter_rows(values_only=True))
    assert first[0][:5] == ("date", "entry", "account", "debit", "credit") and len(first) == 31
    assert first[1][3] == 341 and first[1][4] == 0


@pytest.mark.parametrize("query, field", [
    ("from=2026-13-01", "from"), ("to=yesterday", "to"), ("from=2026-02-01&to=2026-01-01", "to"),
    ("format=xml", "format"), ("from=1999-12-31", "from"), ("from=2000-01-01&to=2020-01-01", "to"),
])  # fmt: skip
def test_bad_query_strings_are_a_400_naming_the_field(api, query, field):
    answer = api.get(f"/api/v1/reports/journal?{query}")
    assert answer.status_code == 400
    assert list(answer.json()["error"]["fields"]) == [field]


def test_another_merchant_sees_an_empty_journal(month, other_tenant):
    body = other_tenant.api.get("/api/v1/reports/journal?from=2026-01-01&to=2026-01-31").json()
    assert (body["results"], body["totals"]) == ([], {})


def markdown(rows) -> str:
    """The worked month as docs/accounting.md shows it."""
    out = ["| date | entry | account | debit | credit | customer |", "|---|---|---|---:|---:|---|"]
    for row in rows:
        debit = f"{row.debit:,.2f}" if row.debit else ""
        credit = f"{row.credit:,.2f}" if row.credit else ""
        out.append(f"| {row.date:%b %-d} | `{row.entry}` | {row.account} | {debit} | {credit} | {row.customer} |")
    out += ["", "| account | debit | credit | balance |", "|---|---:|---:|---:|"]
    for account, sums in account_totals(rows)["USD"].items():
        out.append(f"| {account} | {sums['debit']:,.2f} | {sums['credit']:,.2f} | {sums['balance']:,.2f} |")
    return "\n".join(out)


def test_docs_accounting_shows_the_worked_month_as_the_journal_produces_it(month):
    rows = journal_rows(merchant=month, start=JANUARY[0], end=JANUARY[1])
    # ids of grants and ledger rows differ between databases: the document names them by what they are
    names = {row.entry: row.entry for row in rows}
    for row in rows:
        kind = row.entry.split(":")[0]
        if kind in ("credit_grant", "credit_expiry"):
            names[row.entry] = f"{kind}:{'credit note' if row.credit_note else row.customer}"
        elif kind == "payment":
            names[row.entry] = f"payment:{row.invoice}"
    rows = [row._replace(entry=names[row.entry]) for row in rows]
    table = markdown(rows)
    text = DOC.read_text()
    pattern = re.compile(r"(<!-- worked-month:begin -->\n).*?(\n<!-- worked-month:end -->)", re.S)
    if os.environ.get("ATLAS_WRITE_DOCS"):
        DOC.write_text(pattern.sub(lambda m: m.group(1) + table + m.group(2), text))
        text = DOC.read_text()
    found = pattern.search(text)
    assert found, "docs/accounting.md lacks the worked-month markers"
    assert found.group(0).split("\n", 1)[1].rsplit("\n", 1)[0] == table
