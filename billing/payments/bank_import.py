"""Bank statements: a CSV of money received, matched to invoices (SPEC §11.2, docs/payments.md).

The rules:

- Columns ``date, amount, currency, reference`` (the shared CSV reading of ``customers.csv_import``: UTF-8, ``,``
  or ``;``, the header is row 1, unknown or repeated columns refused). At most 5,000 rows a file.
- A row is checked before anything is written: ``date`` is YYYY-MM-DD and not in the future, ``currency`` a known
  ISO 4217 code, ``amount`` a decimal with at most the currency's decimals, ``reference`` at most 500 characters.
  Rows with an amount of 0 or less are money going out, not payments received: reported as ``ignored``.
- Matching, in file order: a reference that contains an invoice number (``INV-2026-000042`` as a whole token: not a
  part of ``INV-2026-0000421``) pays that invoice, which must be in the row's currency (else the row is an error);
  otherwise, a row pays the one open (finalized) invoice in its currency whose ``amount_due`` is exactly the amount,
  when there is exactly one. Rows matched to a paid or void invoice, and rows matching none or several, are
  ``unmatched``: kept (``BankTransaction``) for staff to assign by hand, not applied.
- A matched row is a ``payment_record`` (method ``bank_transfer``, the row's reference, paid at the start of its
  date in the merchant's time zone): an overpayment's excess becomes customer credit as for any payment.
- Dedupe key: date, amount, currency and reference (trimmed, spaces collapsed, case-folded). A row whose key was
  imported before, or appears earlier in the same file, is a ``duplicate`` and is not applied again: re-importing a
  statement (or one that overlaps the last) never pays twice. Two genuine transfers identical in all four are
  recorded by hand.
- Any row error: nothing is written and every error is reported by row and column (in two phases, as the customers
  import: the cells of every row first; then, when they all pass, what needs the database, such as a currency that
  is not the named invoice's). ``dry_run`` runs the whole
  import, matching included, and rolls it back: the preview is exactly what the import would do.
"""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from atlas.api.exceptions import Conflict
from atlas.models import Merchant
from atlas.money import is_currency, parse_decimal, round_line, to_str
from billing.invoices.models import Invoice
from billing.payments.models import BankTransaction, Payment
from billing.payments.services import IllegalTransition, as_actor, payment_record
from customers.csv_import import RowError, check_header, read_rows
from metering.provisioning import Actor

COLUMNS = ("date", "amount", "currency", "reference")
MAX_ROWS = 5_000
MAX_REFERENCE = 500
MAX_DIGITS = 15
# An invoice number inside a reference: a prefix, the year and six digits, not glued to more letters or digits.
NUMBER = re.compile(r"(?<![A-Z0-9])([A-Z0-9][A-Z0-9_-]*-[0-9]{4}-[0-9]{6})(?![A-Z0-9])")


@dataclass
class BankRow:
    number: int
    date: date
    amount: Decimal
    currency: str
    reference: str

    @property
    def external_id(self) -> str:  # read_rows refuses a repeated id; duplicates here are reported, not refused
        return f"row {self.number}"

    @property
    def key(self) -> str:
        reference = " ".join(self.reference.split()).casefold()
        raw = f"{self.date.isoformat()}|{to_str(self.amount, self.currency)}|{self.currency}|{reference}"
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class BankImportReport:
    dry_run: bool
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result["status"] == status)

    def answer(self) -> dict:
        return {
            "dry_run": self.dry_run, "matched": self.count("matched"), "unmatched": self.count("unmatched"),
            "duplicates": self.count("duplicate"), "ignored": self.count("ignored"), "rows": self.results,
        }  # fmt: skip


def _column_problem(name: str) -> str | None:
    return None if name in COLUMNS else f"unknown column; the columns are {', '.join(COLUMNS)}"


def _check_header(header: list[str], number: int, report) -> bool:
    return check_header(header, number, report, required=COLUMNS, column_problem=_column_problem)


def _read_row(header: list[str], record: list[str], number: int, report) -> BankRow | None:
    if len(record) > len(header):
        report.errors.append(RowError(number, "", f"has {len(record)} cells but the header names {len(header)}"))
        return None
    cells = dict(zip(header, [cell.strip() for cell in record], strict=False))
    before = len(report.errors)

    def error(column: str, message: str) -> None:
        report.errors.append(RowError(number, column, message))

    currency = cells.get("currency", "").upper()
    if not currency:
        error("currency", "is required")
    elif not is_currency(currency):
        error("currency", f"{cells['currency']!r} is not a known ISO 4217 currency")
    day = None
    try:
        day = date.fromisoformat(cells.get("date", ""))
    except ValueError:
        error("date", f"{cells.get('date', '')!r} is not a date (use YYYY-MM-DD)")
    else:
        if day > timezone.now().date():
            error("date", "is in the future")
    amount = None
    try:
        amount = parse_decimal(cells.get("amount", ""))
    except ValueError as exc:
        error("amount", str(exc))
    else:
        if amount.adjusted() >= MAX_DIGITS:
            error("amount", f"is too large (at most {MAX_DIGITS} digits before the point)")
        elif currency and is_currency(currency) and round_line(amount, currency) != amount:
            error("amount", f"has more decimals than {currency} allows")
    reference = cells.get("reference", "")
    if len(reference) > MAX_REFERENCE:
        error("reference", f"must be at most {MAX_REFERENCE} characters")
    if len(report.errors) > before:
        return None
    return BankRow(number=number, date=day, amount=amount, currency=currency, reference=reference)


def numbers_in(reference: str) -> list[str]:
    """Every invoice-number-shaped token of a reference, and the same without leading segments (``PAY-INV-2026-
    000001`` also reads as ``INV-2026-000001``), upper case."""
    found: list[str] = []
    for match in NUMBER.finditer(reference.upper()):
        token = match.group(1)
        parts = re.split(r"(?<=[-_])", token)
        for start in range(len(parts) - 2):
            candidate = "".join(parts[start:])
            if candidate[0] not in "-_" and candidate not in found:
                found.append(candidate)
    return found


def _result(row: BankRow, status: str, note: str = "", *, invoice: Invoice | None = None, matched_by: str = "",
            payment: Payment | None = None) -> dict:  # fmt: skip
    currency = row.currency
    return {
        "row": row.number, "status": status, "date": row.date, "amount": to_str(row.amount, currency),
        "currency": currency, "reference": row.reference,
        "invoice": invoice.pk if invoice else None, "invoice_number": invoice.number if invoice else None,
        "matched_by": matched_by or None,
        "amount_applied": to_str(payment.amount_applied, currency) if payment else None,
        "amount_credited": to_str(payment.amount_credited, currency) if payment else None,
        "amount_due_after": to_str(invoice.amount_due, currency) if payment else None,
        "payment": payment.pk if payment and payment.pk else None, "note": note,
    }  # fmt: skip


def match_invoice(merchant: Merchant, row: BankRow, report: BankImportReport) -> tuple[Invoice | None, str, str]:
    """(invoice, matched_by, note): by a number in the reference, else by an exact unique amount due."""
    numbers = numbers_in(row.reference)
    if numbers:
        named = list(Invoice.objects.filter(merchant=merchant, number__in=numbers).order_by("pk"))
        if len(named) > 1:
            return None, "", f"the reference names {len(named)} invoices: {', '.join(i.number for i in named)}"
        if named:
            invoice = named[0]
            if invoice.currency != row.currency:
                report.errors.append(RowError(row.number, "currency", f"is {row.currency} but invoice "
                                              f"{invoice.number} is in {invoice.currency}"))  # fmt: skip
                return None, "", ""
            if invoice.status != Invoice.Status.FINALIZED:
                return None, "", f"invoice {invoice.number} is {invoice.status}: nothing is due on it"
            return invoice, BankTransaction.MatchedBy.NUMBER, ""
    owing = list(
        Invoice.objects.filter(merchant=merchant, status=Invoice.Status.FINALIZED, currency=row.currency,
                               amount_due=row.amount).order_by("pk")[:2]
    )  # fmt: skip
    if len(owing) == 1:
        return owing[0], BankTransaction.MatchedBy.AMOUNT, ""
    amount = f"{to_str(row.amount, row.currency)} {row.currency}"
    if owing:
        return None, "", f"several open invoices owe exactly {amount}: assign it by hand"
    return None, "", f"no invoice number in the reference and no open invoice owes exactly {amount}"


def paid_at_of(merchant: Merchant, day: date) -> datetime:
    return datetime.combine(day, time.min, ZoneInfo(merchant.timezone))


def bank_statement_import(*, merchant: Merchant, data: bytes, file_name: str = "", dry_run: bool = False,
                          actor: Actor | str) -> BankImportReport:  # fmt: skip
    """Check every row, then match and apply them in one transaction (rolled back on a dry run or any error)."""
    actor = as_actor(actor)
    report = BankImportReport(dry_run=dry_run)
    parsed = read_rows(data, report, check_header=_check_header, read_row=_read_row, required=COLUMNS,
                       noun="payment")  # fmt: skip
    if parsed is None or report.errors:
        return report
    _, rows = parsed
    report.rows = len(rows)
    if len(rows) > MAX_ROWS:
        report.errors.append(RowError(None, "", f"has more than {MAX_ROWS} rows; split it"))
        return report
    try:
        with transaction.atomic():
            _apply(merchant, rows, report, actor=actor, file_name=file_name[:255])
            if dry_run or report.errors:
                transaction.set_rollback(True)
    except IntegrityError:  # the same rows imported at this very moment by another request
        raise Conflict("another import of these rows is running; try again in a moment") from None
    if report.errors:
        report.results = []
    return report


def _apply(merchant: Merchant, rows: list[BankRow], report: BankImportReport, *, actor: Actor, file_name: str) -> None:
    keys = {row.key for row in rows}
    before = dict(
        BankTransaction.objects.filter(merchant=merchant, key__in=keys).values_list("key", "imported_at")
    )
    seen: dict[str, int] = {}
    now = timezone.now()
    for row in rows:
        if row.amount <= 0:
            report.results.append(_result(row, "ignored", "not money received (the amount is 0 or less)"))
            continue
        key = row.key
        if key in before:
            report.results.append(_result(row, "duplicate", f"imported before, on {before[key]:%Y-%m-%d}"))
            continue
        if key in seen:
            report.results.append(_result(row, "duplicate", f"the same as row {seen[key]}"))
            continue
        seen[key] = row.number
        invoice, matched_by, note = match_invoice(merchant, row, report)
        record = BankTransaction(
            merchant=merchant, key=key, date=row.date, amount=row.amount, currency=row.currency,
            reference=row.reference, file_name=file_name, row=row.number, imported_at=now,
            actor_label=actor.label[:255],
        )  # fmt: skip
        if report.errors:
            continue  # keep checking the other rows; nothing will be written
        payment = None
        if invoice is not None:
            try:
                payment = payment_record(
                    invoice=invoice, amount=row.amount, method=Payment.Method.BANK_TRANSFER, actor=actor,
                    paid_at=paid_at_of(merchant, row.date), reference=row.reference[:255],
                    source=Payment.Source.BANK_IMPORT,
                )  # fmt: skip
            except IllegalTransition as exc:  # paid by an earlier row of this file
                invoice, note = None, str(exc)
        if payment is not None:
            record.status, record.matched_by, record.payment = BankTransaction.Status.MATCHED, matched_by, payment
            record.save()
            invoice.refresh_from_db(fields=["amount_due", "status"])
            report.results.append(_result(row, "matched", invoice=invoice, matched_by=matched_by, payment=payment))
        else:
            record.status, record.note = BankTransaction.Status.UNMATCHED, note[:300]
            record.save()
            report.results.append(_result(row, "unmatched", note))


def bank_transaction_assign(*, bank_transaction: BankTransaction, invoice: Invoice, actor: Actor | str) -> Payment:
    """Staff pay an invoice with an unmatched statement line (``matched_by`` ``hand``); the payment's rules apply
    (currency, finalized invoice). Raises ``IllegalTransition`` or ``ValidationError``; nothing is written then."""
    with transaction.atomic():
        locked = BankTransaction.objects.select_for_update().get(pk=bank_transaction.pk)
        if locked.status != BankTransaction.Status.UNMATCHED:
            raise IllegalTransition(invoice, "assign a statement line to", because=f"(the line is {locked.status})")
        payment = payment_record(
            invoice=invoice, amount=locked.amount, currency=locked.currency, method=Payment.Method.BANK_TRANSFER,
            actor=actor, paid_at=paid_at_of(invoice.merchant, locked.date), reference=locked.reference[:255],
            source=Payment.Source.BANK_IMPORT,
        )  # fmt: skip
        locked.status, locked.matched_by, locked.payment = (
            BankTransaction.Status.MATCHED, BankTransaction.MatchedBy.HAND, payment,
        )  # fmt: skip
        locked.note = f"assigned by {as_actor(actor).label}"[:300]
        locked.save(update_fields=["status", "matched_by", "payment", "note"])
    return payment


def bank_transaction_dismiss(*, bank_transaction: BankTransaction, reason: str, actor: Actor | str) -> BankTransaction:
    """Staff set aside an unmatched statement line that pays no invoice (a bank fee, a supplier's refund): it leaves
    the unmatched list with the reason and who dismissed it, and stays on record (its key still refuses a re-import).
    Raises ``ValidationError`` on ``reason`` when blank and on ``status`` when the line is not unmatched."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this line pays no invoice."})
    with transaction.atomic():
        locked = BankTransaction.objects.select_for_update().get(pk=bank_transaction.pk)
        if locked.status != BankTransaction.Status.UNMATCHED:
            raise ValidationError({"status": f"Only an unmatched line can be dismissed; this one is {locked.status}."})
        locked.status = BankTransaction.Status.DISMISSED
        locked.note = f"dismissed by {as_actor(actor).label}: {reason}"[:300]
        locked.save(update_fields=["status", "note"])
    return locked
