"""The general journal: every document of a span as balanced double-entry rows (SPEC §11.2; docs/accounting.md).

Entries (``+`` debit, ``−`` credit; each entry's rows sum to zero, to the cent):

- ``invoice`` on the issue date: Dr ``accounts_receivable`` the total, Dr ``customer_credit`` the prepaid credits
  it consumed; Cr ``unbilled_receivables`` what of its lines was already earned before that day (usage billed in
  arrears, accrued day by day) and Cr ``deferred_revenue`` the rest of the lines; Cr ``tax_payable`` the tax.
- ``recognition`` per invoice and calendar month of the span, dated the month's last day in the span: Cr
  ``revenue`` what the lines earned on those days (``billing.reports.recognition``: by local day over each line's
  service period, cumulative rounding, so the parts sum to the line); Dr ``unbilled_receivables`` for days before
  the invoice was issued (revenue in the period the service was consumed, IFRS 15's contract asset) and Dr
  ``deferred_revenue`` for days from its issue on (the contract liability released).
- ``payment``: Dr ``cash`` / Cr ``accounts_receivable`` what was received (an overpayment's excess then leaves the
  receivable as customer credit: its ``credit_grant``). ``payment_refund``: Dr ``accounts_receivable`` / Cr ``cash``
  (the invoice owes it again).
- ``credit_note``: Dr ``revenue`` what the credited amounts had already earned by the note's date (a cumulative
  catch-up, IFRS 15 §88), Dr ``deferred_revenue`` the rest (no longer earned later: the invoice's recognition
  entries from then on are smaller by it), Dr ``tax_payable`` / Cr ``accounts_receivable`` the note's total.
  ``refund`` (a note's amount refunded outside Atlas): Dr ``accounts_receivable`` / Cr ``cash``.
- ``void``: the invoice entry reversed on the void date, earned revenue taken back (Dr ``revenue``), the credits
  it had consumed restored (Cr ``customer_credit``); nothing is recognised on it from then on.
- ``credit_grant``: Cr ``customer_credit``; Dr ``accounts_receivable`` when the credit is money the customer
  already had with the merchant (a negative final invoice, a credit note on a paid invoice, an overpayment), else Dr
  ``promotional_credits`` (an expense: free credit). ``credit_expiry``: Dr ``customer_credit``; Cr
  ``credit_breakage`` (other income, IFRS 15 B46) or, for free credit, Cr ``promotional_credits`` (the unused
  expense reversed). Credits consumed are on the invoice entry; credits restored on the void entry.

Dates are local dates in the merchant's time zone. A finalized invoice is in the books from its issue date; a
draft is not. The rows are computed from the documents as they stand, so a month read again after a later invoice
(the in-arrears invoice issued on the 1st, a late-event adjustment) also shows the revenue that invoice earned in
the month (accrued as ``unbilled_receivables``).
"""

import csv
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.db import connections
from django.db.models import Q
from django.db.models.functions import TruncDate
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from atlas.models import Merchant
from atlas.money import minor_units, to_str
from billing.credit_notes.models import CreditNoteLine
from billing.credits.models import CreditLedgerEntry
from billing.invoices.models import InvoiceLine
from billing.payments.models import Payment, Refund
from billing.reports.exports import spreadsheet_text
from billing.reports.params import day_start
from billing.reports.recognition import DAY, Schedule, local_date, month_spans

AR, UNBILLED, DEFERRED, REVENUE = "accounts_receivable", "unbilled_receivables", "deferred_revenue", "revenue"
TAX, CREDIT, CASH = "tax_payable", "customer_credit", "cash"
PROMOTIONAL, BREAKAGE = "promotional_credits", "credit_breakage"
ACCOUNTS = (CASH, AR, UNBILLED, DEFERRED, CREDIT, TAX, REVENUE, BREAKAGE, PROMOTIONAL)
COLUMNS = ("date", "entry", "account", "debit", "credit", "currency", "invoice", "payment", "credit_note", "customer")
ZERO = Decimal("0")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Unbalanced(AssertionError):
    """An entry whose debits and credits differ: a bug, never data."""


class Row(NamedTuple):
    date: date
    entry: str
    account: str
    amount: Decimal  # + debit, − credit
    currency: str
    customer: str
    invoice: str | None = None
    payment: str | None = None
    credit_note: str | None = None

    @property
    def debit(self) -> Decimal:
        return self.amount if self.amount > 0 else ZERO

    @property
    def credit(self) -> Decimal:
        return -self.amount if self.amount < 0 else ZERO


def _entry(day: date, entry: str, currency: str, customer: str, postings: list[tuple[str, Decimal]],
           invoice: str | None = None, payment: str | None = None, credit_note: str | None = None) -> list[Row]:
    """One balanced entry (each account once in ``postings``), zero rows left out."""
    if sum(amount for _, amount in postings) != 0:
        raise Unbalanced(f"{entry}: {postings}")
    return [Row(day, entry, account, amount, currency, customer, invoice, payment, credit_note)
            for account, amount in postings if amount]  # fmt: skip


@dataclass
class _Invoice:
    number: str
    currency: str
    customer: str
    issued: date
    voided: date | None
    subtotal: Decimal
    credits: Decimal
    tax: Decimal
    total: Decimal
    lines: list[Schedule]
    notes: list[tuple[date, Schedule]]  # credited amounts: earned from the note's date on, negatively

    def earned(self, schedule: Schedule, start: date, end: date) -> Decimal:
        """What ``schedule`` earns on days ``[start, end)``, none from the void date on."""
        if self.voided is not None:
            start, end = min(start, self.voided), min(end, self.voided)
        return schedule.between(start, end)


def _days(tz: ZoneInfo, **fields: str) -> dict:
    """Local dates computed by the database (``AT TIME ZONE``): no datetime parsing in Python."""
    return {name: TruncDate(field, tzinfo=tz) for name, field in fields.items()}


def _fetch(queryset) -> list[tuple]:
    """A ``values_list`` queryset's rows. On PostgreSQL straight from one cursor: its columns here (numerics, dates,
    text) come out of psycopg as Python wants them, so Django's per-value converters and its 100-row fetches are
    skipped (a month's journal reads ~30,000 lines: bench/receivables.py)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return list(queryset)
    sql, params = queryset.query.get_compiler(queryset.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _invoices(merchant: Merchant, low: datetime, high: datetime, tz: ZoneInfo) -> dict[int, _Invoice]:
    """Finalized invoices issued or voided in the span, or with a line serving in it: their lines (one query).

    A line serves in the span when it starts before its end and ends after its start (a line ending at the span's
    first instant served the days before it), or is an instant's service within it (a one-time fee)."""
    days = _days(tz, d_start="service_start", d_end="service_end", d_issued="invoice__issued_at",
                 d_voided="invoice__voided_at")  # fmt: skip
    rows = (
        InvoiceLine.objects.filter(merchant=merchant, invoice__finalized_at__isnull=False)
        .filter(Q(invoice__issued_at__gte=low, invoice__issued_at__lt=high)
                | Q(invoice__voided_at__gte=low, invoice__voided_at__lt=high)
                | Q(Q(service_end__gt=low) | Q(service_start__gte=low), service_start__lt=high))  # fmt: skip
        .annotate(**days)
        .order_by()
        .values_list("invoice_id", "amount", "d_start", "d_end", "invoice__number", "invoice__currency",
                     "invoice__customer_external_id", "d_issued", "d_voided", "invoice__subtotal",
                     "invoice__credits_applied", "invoice__tax", "invoice__total")  # fmt: skip
    )
    invoices: dict[int, _Invoice] = {}
    for pk, amount, start, end, number, currency, customer, issued, voided, subtotal, credits, tax, total in _fetch(
        rows
    ):
        invoice = invoices.get(pk)
        if invoice is None:
            invoice = invoices[pk] = _Invoice(number, currency, customer, issued, voided, subtotal, credits, tax,
                                              total, [], [])  # fmt: skip
        invoice.lines.append(Schedule(amount, currency, start, end))
    return invoices


def _invoice_entries(invoice: _Invoice, start: date, end: date, spans: list[tuple[date, date, date, str]]
                     ) -> list[Row]:  # fmt: skip
    rows: list[Row] = []
    refs = {"invoice": invoice.number}
    issued = invoice.issued
    if start <= issued <= end:
        before = sum((line.through(issued) for line in invoice.lines), ZERO)
        rows += _entry(issued, f"invoice:{invoice.number}", invoice.currency, invoice.customer, [
            (AR, invoice.total), (CREDIT, invoice.credits), (UNBILLED, -before),
            (DEFERRED, -(invoice.subtotal - before)), (TAX, -invoice.tax),
        ], **refs)  # fmt: skip
    voided = invoice.voided
    for first, last, after, label in spans:
        accrued = released = ZERO
        for line in invoice.lines:
            line_first, line_end = line.first, max(line.end, line.first + DAY)
            if line_end <= first or line_first >= after:
                continue  # serves no day of this month
            if voided is None and first <= line_first and line_end <= after:  # the whole line earned here
                if line_end <= issued:
                    accrued += line.amount
                elif issued <= line_first:
                    released += line.amount
                else:
                    cut = line.through(issued)
                    accrued, released = accrued + cut, released + line.amount - cut
                continue
            accrued += invoice.earned(line, first, min(after, issued))
            released += invoice.earned(line, max(first, issued), after)
        for day, note in invoice.notes:
            released -= note.between(max(first, day), max(after, day))
        if accrued or released:
            name = f"recognition:{invoice.number}:{label}"
            rows.append(Row(last, name, UNBILLED, accrued, invoice.currency, invoice.customer, invoice.number))
            rows.append(Row(last, name, DEFERRED, released, invoice.currency, invoice.customer, invoice.number))
            rows.append(Row(last, name, REVENUE, -(accrued + released), invoice.currency, invoice.customer,
                            invoice.number))  # fmt: skip
            if not accrued:
                del rows[-3]
            elif not released:
                del rows[-2]
    if voided is not None and start <= voided <= end:
        earned = sum((line.through(voided) for line in invoice.lines), ZERO)
        rows += _entry(voided, f"void:{invoice.number}", invoice.currency, invoice.customer, [
            (REVENUE, earned), (DEFERRED, invoice.subtotal - earned), (TAX, invoice.tax),
            (AR, -invoice.total), (CREDIT, -invoice.credits),
        ], **refs)  # fmt: skip
    return rows


def _credit_notes(merchant: Merchant, invoices: dict[int, _Invoice], low: datetime, high: datetime, tz: ZoneInfo,
                  start: date, end: date) -> list[Row]:  # fmt: skip
    """Credit note entries in the span; every note issued before its end also lowers its invoice's recognition."""
    rows = (
        CreditNoteLine.objects.filter(credit_note__merchant=merchant, credit_note__issued_at__lt=high)
        .filter(Q(credit_note__issued_at__gte=low)
                | Q(invoice_line__service_start__lt=high, invoice_line__service_end__gte=low))  # fmt: skip
        .annotate(**_days(tz, d_start="invoice_line__service_start", d_end="invoice_line__service_end",
                          d_issued="credit_note__issued_at"))
        .order_by("credit_note_id", "pk")
        .values_list("credit_note_id", "amount", "d_start", "d_end", "credit_note__invoice_id", "credit_note__number",
                     "credit_note__currency", "credit_note__invoice__number",
                     "credit_note__invoice__customer_external_id", "d_issued", "credit_note__tax",
                     "credit_note__total", "credit_note__amount_refunded")  # fmt: skip
    )
    notes: dict[int, dict] = {}
    for pk, amount, s_start, s_end, invoice_id, number, currency, invoice_number, customer, day, tax, total, \
            refunded in rows:  # fmt: skip
        schedule = Schedule(amount, currency, s_start, s_end)
        if invoice_id in invoices:
            invoices[invoice_id].notes.append((day, schedule))
        note = notes.setdefault(pk, {"day": day, "number": number, "currency": currency, "invoice": invoice_number,
                                     "customer": customer, "tax": tax, "total": total, "refunded": refunded,
                                     "earned": ZERO, "credited": ZERO})  # fmt: skip
        note["earned"] += schedule.through(day)
        note["credited"] += amount
    out: list[Row] = []
    for note in notes.values():
        if not start <= note["day"] <= end:
            continue
        refs = {"invoice": note["invoice"], "credit_note": note["number"]}
        out += _entry(note["day"], f"credit_note:{note['number']}", note["currency"], note["customer"], [
            (REVENUE, note["earned"]), (DEFERRED, note["credited"] - note["earned"]), (TAX, note["tax"]),
            (AR, -note["total"]),
        ], **refs)  # fmt: skip
        if note["refunded"]:
            out += _entry(note["day"], f"refund:{note['number']}", note["currency"], note["customer"], [
                (AR, note["refunded"]), (CASH, -note["refunded"]),
            ], **refs)  # fmt: skip
    return out


def _payments(merchant: Merchant, low: datetime, high: datetime, tz: ZoneInfo) -> list[Row]:
    """Payments received and refunds paid out in the span (one query each)."""
    rows = (
        Payment.objects.filter(merchant=merchant, paid_at__gte=low, paid_at__lt=high)
        .annotate(**_days(tz, day="paid_at"))
        .order_by()
        .values_list("pk", "currency", "invoice__customer_external_id", "invoice__number", "day", "amount")
    )
    out: list[Row] = []
    for pk, currency, customer, number, day, amount in _fetch(rows):
        payment = str(pk)
        out += (Row(day, f"payment:{payment}", CASH, amount, currency, customer, number, payment),
                Row(day, f"payment:{payment}", AR, -amount, currency, customer, number, payment))
    refunds = (
        Refund.objects.filter(merchant=merchant, refunded_at__gte=low, refunded_at__lt=high)
        .order_by("refunded_at", "pk")
        .values_list("pk", "currency", "payment__invoice__customer_external_id", "payment__invoice__number",
                     "payment_id", "refunded_at", "amount")  # fmt: skip
    )
    for pk, currency, customer, number, payment, refunded_at, amount in refunds.iterator(chunk_size=5000):
        out += _entry(local_date(refunded_at, tz), f"payment_refund:{pk}", currency, customer,
                      [(AR, amount), (CASH, -amount)], invoice=number, payment=str(payment))  # fmt: skip
    return out


def _credits(merchant: Merchant, low: datetime, high: datetime, tz: ZoneInfo) -> list[Row]:
    """Credit granted and expired in the span (consumption and restoration are on invoice and void entries)."""
    rows = (
        CreditLedgerEntry.objects.filter(merchant=merchant, at__gte=low, at__lt=high,
                                         kind__in=[CreditLedgerEntry.Kind.GRANT, CreditLedgerEntry.Kind.EXPIRY])
        .order_by("at", "pk")
        .values_list("pk", "kind", "amount", "at", "grant_id", "grant__currency", "customer__external_id",
                     "grant__source_invoice__number", "grant__credit_note__number", "grant__payment__id",
                     "grant__payment__invoice__number")
    )  # fmt: skip
    out: list[Row] = []
    for pk, kind, amount, at, grant_id, currency, customer, invoice, note, payment, paid_invoice in rows.iterator(
        chunk_size=5000
    ):
        owed = invoice is not None or note is not None or payment is not None  # the customer's money, not free
        refs = {"invoice": invoice or paid_invoice, "credit_note": note,
                "payment": str(payment) if payment is not None else None}  # fmt: skip
        if kind == CreditLedgerEntry.Kind.GRANT:
            postings = [(AR if owed else PROMOTIONAL, amount), (CREDIT, -amount)]
            name = f"credit_grant:{grant_id}"
        else:  # expiry: amount is negative
            postings = [(CREDIT, -amount), (BREAKAGE if owed else PROMOTIONAL, amount)]
            name = f"credit_expiry:{pk}"
        out += _entry(local_date(at, tz), name, currency, customer, postings, **refs)
    return out


_KIND_ORDER = {"invoice": 0, "credit_note": 1, "refund": 2, "payment": 3, "payment_refund": 4, "credit_grant": 5,
               "credit_expiry": 6, "void": 7, "recognition": 8}  # fmt: skip


def journal_rows(*, merchant: Merchant, start: date, end: date) -> list[Row]:
    """Every entry dated on local days ``[start, end]`` (inclusive), by date, then kind, then entry."""
    tz = ZoneInfo(merchant.timezone)
    low, high = day_start(start, merchant.timezone), day_start(end + timedelta(days=1), merchant.timezone)
    invoices = _invoices(merchant, low, high, tz)
    rows = _credit_notes(merchant, invoices, low, high, tz, start, end)
    spans = [(first, last, last + DAY, f"{first:%Y-%m}") for first, last in month_spans(start, end)]
    for invoice in invoices.values():
        rows += _invoice_entries(invoice, start, end, spans)
    rows += _payments(merchant, low, high, tz)
    rows += _credits(merchant, low, high, tz)
    rows.sort(key=lambda row: (row.date, _KIND_ORDER[row.entry[:row.entry.index(":")]], row.entry))
    return rows


def account_totals(rows: list[Row]) -> dict[str, dict[str, dict[str, Decimal]]]:
    """Per currency and account: debits, credits and their balance (debit − credit)."""
    debits: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    credits: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for _, _, account, amount, currency, *_ in rows:
        if amount > 0:
            debits[currency, account] += amount
        else:
            credits[currency, account] -= amount
    totals: dict[str, dict[str, dict[str, Decimal]]] = {}
    for currency in sorted({currency for currency, _ in (*debits, *credits)}):
        totals[currency] = {}
        for account in ACCOUNTS:
            if (currency, account) in debits or (currency, account) in credits:
                debit, credit = debits.get((currency, account), ZERO), credits.get((currency, account), ZERO)
                totals[currency][account] = {"debit": debit, "credit": credit, "balance": debit - credit}
    return totals


class _Formats(dict):
    """Per currency: the amount format and its zero; per date: its ISO text (computed once per report)."""

    def money(self, currency: str):
        found = self.get(currency)
        if found is None:
            spec = f".{minor_units(currency)}f"
            found = self[currency] = (spec, format(ZERO, spec))
        return found

    def day(self, value: date) -> str:
        found = self.get(value)
        if found is None:
            found = self[value] = value.isoformat()
        return found


def row_values(row: Row, formats: _Formats | None = None) -> list:
    """The row as the API and CSV carry it: amounts as strings with the currency's decimals, one side zero (amounts
    here are already whole minor units: formatting does not round)."""
    formats = _Formats() if formats is None else formats
    spec, zero = formats.money(row.currency)
    amount = row.amount
    debit, credit = (format(amount, spec), zero) if amount > 0 else (zero, format(-amount, spec))
    return [formats.day(row.date), row.entry, row.account, debit, credit, row.currency, row.invoice, row.payment,
            row.credit_note, row.customer]


def journal_json(*, merchant: Merchant, start: date, end: date) -> dict:
    rows = journal_rows(merchant=merchant, start=start, end=end)
    totals = account_totals(rows)
    formats = _Formats()
    results = []
    append = results.append
    for day, entry, account, amount, currency, customer, invoice, payment, credit_note in rows:  # row_values, inline
        spec, zero = formats.money(currency)
        debit, credit = (format(amount, spec), zero) if amount > 0 else (zero, format(-amount, spec))
        append({"date": formats.day(day), "entry": entry, "account": account, "debit": debit, "credit": credit,
                "currency": currency, "invoice": invoice, "payment": payment, "credit_note": credit_note,
                "customer": customer})  # fmt: skip
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "results": results,
        "totals": {currency: {account: {key: to_str(value, currency) for key, value in sums.items()}
                              for account, sums in accounts.items()}
                   for currency, accounts in totals.items()},  # fmt: skip
    }


class _Echo:
    def write(self, value: str) -> str:
        return value


def journal_csv(rows: list[Row]) -> Iterator[str]:
    """CSV lines: no cell a spreadsheet would read as a formula (``billing.reports.exports.spreadsheet_text``)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    formats = _Formats()
    for row in rows:
        yield writer.writerow(["" if value is None else spreadsheet_text(str(value))
                               for value in row_values(row, formats)])  # fmt: skip


def journal_xlsx(rows: list[Row]):
    """An open temporary file: the workbook, one sheet per month (``2026-01``), amounts as numbers.

    Text goes through ``spreadsheet_text`` first, so no cell starts like a formula; only the dates and amounts are
    styled cells (a styled cell costs far more to write than a plain value)."""
    workbook = Workbook(write_only=True)
    sheets: dict[str, object] = {}
    money_formats: dict[str, str] = {}
    texts: dict[str, str] = {}

    def text(value):
        if not isinstance(value, str):
            return value  # None and numbers as they are
        shown = texts.get(value)
        if shown is None:
            shown = texts[value] = spreadsheet_text(ILLEGAL_CHARACTERS_RE.sub("", value))
        return shown

    for row in rows:
        title = f"{row.date:%Y-%m}"
        sheet = sheets.get(title)
        if sheet is None:
            sheet = sheets[title] = workbook.create_sheet(title=title)
            sheet.append(list(COLUMNS))
        money = money_formats.get(row.currency)
        if money is None:
            places = minor_units(row.currency)
            money = money_formats[row.currency] = "#,##0" + ("." + "0" * places if places else "")
        day = WriteOnlyCell(sheet, value=row.date)
        day.number_format = "yyyy-mm-dd"
        debit = WriteOnlyCell(sheet, value=row.debit)
        debit.number_format = money
        credit = WriteOnlyCell(sheet, value=row.credit)
        credit.number_format = money
        sheet.append([day, text(row.entry), text(row.account), debit, credit, text(row.currency), text(row.invoice),
                      text(row.payment), text(row.credit_note), text(row.customer)])  # fmt: skip
    if not sheets:
        workbook.create_sheet(title="journal").append(list(COLUMNS))
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - returned open; FileResponse closes it
    workbook.save(handle)
    handle.seek(0)
    return handle
