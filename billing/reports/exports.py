"""Exports of invoices and usage for a period, as CSV or Excel (docs/analytics.md#exports).

- **Invoices**: one row per invoice issued in the period (every status; the ``status`` column tells them apart),
  with its totals, so a column sums to the period's total.
- **Usage**: one row per billed usage line (``usage`` and late ``adjustment`` lines of invoices that are not void)
  whose service period starts in the period: customer, subscription, metric, group, service period, quantity,
  events and amount.
- **Credit notes**: one row per credit note issued in the period, with the invoice it corrects and where its
  total went (off the amount due, customer credit, refunded).

Rows come from the database in chunks (``iterator``) and are written as they come: CSV is streamed to the client,
Excel is written by openpyxl's write-only workbook to a temporary file, so neither holds every row in memory.
"""

import csv
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from atlas.models import Merchant
from atlas.money import minor_units, to_str
from billing.credit_notes.models import CreditNote
from billing.invoices.models import Invoice, InvoiceLine

CHUNK = 2000
KINDS = ("invoices", "usage", "credit_notes")
FORMATS = ("csv", "xlsx")
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"  # text, money, quantity, int, rate, datetime


INVOICE_COLUMNS = [
    Column("number"), Column("status"), Column("customer_external_id"), Column("customer_name"),
    Column("subscription"), Column("currency"), Column("period_start", "datetime"), Column("period_end", "datetime"),
    Column("issued_at", "datetime"), Column("due_at", "datetime"), Column("subtotal", "money"),
    Column("credits_applied", "money"), Column("tax_rate", "rate"), Column("tax", "money"), Column("total", "money"),
    Column("credited", "money"), Column("amount_paid", "money"), Column("amount_due", "money"),
]  # fmt: skip

USAGE_COLUMNS = [
    Column("customer_external_id"), Column("customer_name"), Column("subscription"), Column("metric"),
    Column("group"), Column("service_start", "datetime"), Column("service_end", "datetime"),
    Column("quantity", "quantity"), Column("events_count", "int"), Column("amount", "money"), Column("currency"),
    Column("line_type"), Column("invoice_number"), Column("invoice_status"),
]  # fmt: skip


CREDIT_NOTE_COLUMNS = [
    Column("number"), Column("invoice_number"), Column("customer_external_id"), Column("customer_name"),
    Column("currency"), Column("issued_at", "datetime"), Column("reason"), Column("memo"), Column("subtotal", "money"),
    Column("tax_rate", "rate"), Column("tax", "money"), Column("total", "money"), Column("amount_applied", "money"),
    Column("amount_credited", "money"), Column("amount_refunded", "money"),
]  # fmt: skip


def _local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(timezone))


def invoice_rows(*, merchant: Merchant, start: date, end: date) -> Iterator[list]:
    """Invoices issued on local dates ``[start, end]`` (inclusive), oldest first."""
    low, high = _local_midnight(start, merchant.timezone), _local_midnight(end, merchant.timezone)
    rows = (
        Invoice.objects.filter(merchant=merchant, issued_at__gte=low, issued_at__lt=high + _DAY)
        .order_by("issued_at", "pk")
        .values_list(
            "number",
            "status",
            "customer_external_id",
            "customer_name",
            "subscription__external_id",
            "currency",
            "period_start",
            "period_end",
            "issued_at",
            "due_at",
            "subtotal",
            "credits_applied",
            "tax_rate",
            "tax",
            "total",
            "credited",
            "amount_paid",
            "amount_due",
        )
    )
    for row in rows.iterator(chunk_size=CHUNK):
        row = list(row)
        row[0] = row[0] or "(draft)"
        yield row


def credit_note_rows(*, merchant: Merchant, start: date, end: date) -> Iterator[list]:
    """Credit notes issued on local dates ``[start, end]`` (inclusive), oldest first."""
    low, high = _local_midnight(start, merchant.timezone), _local_midnight(end, merchant.timezone)
    rows = (
        CreditNote.objects.filter(merchant=merchant, issued_at__gte=low, issued_at__lt=high + _DAY)
        .order_by("issued_at", "pk")
        .values_list(
            "number", "invoice__number", "customer__external_id", "invoice__customer_name", "currency", "issued_at",
            "reason", "memo", "subtotal", "tax_rate", "tax", "total", "amount_applied", "amount_credited",
            "amount_refunded",
        )  # fmt: skip
    )
    for row in rows.iterator(chunk_size=CHUNK):
        yield list(row)


def _group_text(group) -> str:
    if not group:
        return ""
    if isinstance(group, dict):
        return "; ".join(f"{key}={value}" for key, value in group.items())
    return str(group)


def usage_rows(*, merchant: Merchant, start: date, end: date) -> Iterator[list]:
    """Billed usage whose service period starts on local dates ``[start, end]`` (inclusive)."""
    low, high = _local_midnight(start, merchant.timezone), _local_midnight(end, merchant.timezone)
    rows = (
        InvoiceLine.objects.filter(
            merchant=merchant,
            type__in=(InvoiceLine.Type.USAGE, InvoiceLine.Type.ADJUSTMENT),
            service_start__gte=low,
            service_start__lt=high + _DAY,
        )
        .exclude(invoice__status=Invoice.Status.VOID)
        .order_by("service_start", "invoice__customer_external_id", "metric_code", "pk")
        .values_list(
            "invoice__customer__external_id",
            "invoice__customer__name",
            "invoice__subscription__external_id",
            "metric_code",
            "group",
            "service_start",
            "service_end",
            "quantity",
            "events_count",
            "amount",
            "invoice__currency",
            "type",
            "invoice__number",
            "invoice__status",
        )
    )
    for row in rows.iterator(chunk_size=CHUNK):
        row = list(row)
        row[4] = _group_text(row[4])
        row[12] = row[12] or "(draft)"
        yield row


def _quantity_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    """Text a spreadsheet shows as text: one leading ``'`` when it would start a formula (``=cmd|' /C calc'!A0``).

    Only text is touched (names, ids, memos): amounts, quantities and times are written by Atlas, so a negative
    amount stays a number.
    """
    return f"'{value}" if value.startswith(FORMULA_TRIGGERS) else value


def _currency_index(columns: list[Column]) -> int:
    return [column.name for column in columns].index("currency")


def _csv_cell(column: Column, value, currency: str, tz: ZoneInfo) -> str:
    if value is None:
        return ""
    if column.kind == "money":
        return to_str(value, currency)
    if column.kind in ("quantity", "rate"):
        return _quantity_text(value)
    if column.kind == "datetime":
        return value.astimezone(tz).isoformat()
    return spreadsheet_text(str(value))


class _Echo:
    """A file-like object whose write returns the line, for streaming through ``csv.writer``."""

    def write(self, value: str) -> str:
        return value


def csv_lines(columns: list[Column], rows: Iterable[list], *, timezone: str) -> Iterator[str]:
    """The CSV text, line by line: times in ISO 8601 with the merchant's offset, amounts with the currency's
    decimals."""
    tz = ZoneInfo(timezone)
    writer = csv.writer(_Echo())
    currency_at = _currency_index(columns)
    yield writer.writerow([column.name for column in columns])
    for row in rows:
        currency = row[currency_at]
        yield writer.writerow(
            [_csv_cell(column, value, currency, tz) for column, value in zip(columns, row, strict=True)]
        )


def _number_format(column: Column, currency: str) -> str | None:
    if column.kind == "money":
        places = minor_units(currency)
        return "#,##0" + ("." + "0" * places if places else "")
    if column.kind == "datetime":
        return "yyyy-mm-dd hh:mm:ss"
    return None


def xlsx_file(columns: list[Column], rows: Iterable[list], *, title: str, timezone: str):
    """An open temporary file holding the workbook (one sheet; times are local to the merchant's time zone)."""
    tz = ZoneInfo(timezone)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title)
    sheet.append([column.name for column in columns])
    currency_at = _currency_index(columns)
    for row in rows:
        currency = row[currency_at]
        cells = []
        for column, value in zip(columns, row, strict=True):
            if column.kind == "datetime" and value is not None:
                value = value.astimezone(tz).replace(tzinfo=None)  # Excel has no time zones
            elif isinstance(value, str):
                # control characters a cell cannot hold (a memo's BEL), then no formula
                value = spreadsheet_text(ILLEGAL_CHARACTERS_RE.sub("", value))
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl would store a leading "=" as a live formula
            number_format = _number_format(column, currency)
            if number_format and value is not None:
                cell.number_format = number_format
            cells.append(cell)
        sheet.append(cells)
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - returned open; FileResponse closes it
    workbook.save(handle)
    handle.seek(0)
    return handle


def export_source(*, merchant: Merchant, kind: str, start: date, end: date) -> tuple[list[Column], Iterator[list]]:
    if kind == "invoices":
        return INVOICE_COLUMNS, invoice_rows(merchant=merchant, start=start, end=end)
    if kind == "usage":
        return USAGE_COLUMNS, usage_rows(merchant=merchant, start=start, end=end)
    if kind == "credit_notes":
        return CREDIT_NOTE_COLUMNS, credit_note_rows(merchant=merchant, start=start, end=end)
    raise ValueError(f"kind: must be one of {', '.join(KINDS)}")


def export_filename(*, merchant: Merchant, kind: str, start: date, end: date, fmt: str) -> str:
    return f"{merchant.slug}-{kind}-{start.isoformat()}-{end.isoformat()}.{fmt}"
