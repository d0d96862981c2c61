"""Accounts receivable aging: what each customer owes at the close of a day, by days past due (SPEC §11.2).

An invoice counts when it is issued (finalized; dated by ``issued_at`` as everywhere in the books) by the close of
``as_of`` (local midnight after it, in the merchant's time zone) and still had something due then: its ``total``
less the credit notes applied to it and the payments received up to that instant, unless it was voided by then. A
later payment or credit note does not change an earlier report. Buckets are local calendar days from the due date
to ``as_of``: ``current`` (not past due: due on ``as_of`` or later), ``1_30``, ``31_60``, ``61_90``, ``over_90``.

The whole report is one grouped query (the invoice rows never reach Python); docs/receivables.md.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Case, DecimalField, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

from atlas.models import Merchant
from atlas.money import to_str
from billing.credit_notes.models import CreditNote
from billing.invoices.models import Invoice
from billing.payments.models import Payment, Refund
from billing.reports.params import day_start

BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")
ZERO = Decimal("0")
_MONEY = DecimalField(max_digits=20, decimal_places=6)


def _zero() -> Value:
    return Value(ZERO, output_field=_MONEY)


def _sum_before(queryset, field: str):
    return Coalesce(Subquery(queryset.order_by().values("invoice_id").annotate(s=Sum(field)).values("s"),
                             output_field=_MONEY), _zero())  # fmt: skip


def paid_by(close: datetime):
    """What payments had settled on an invoice before ``close``: what they applied to it (an overpayment's excess
    became customer credit) less what was refunded of them by then."""
    applied = Payment.objects.filter(invoice=OuterRef("pk"), paid_at__lt=close)
    refunded = Refund.objects.filter(payment__invoice=OuterRef("pk"), refunded_at__lt=close).annotate(
        invoice_id=F("payment__invoice_id"))
    return _sum_before(applied, "amount_applied") - _sum_before(refunded, "amount")


def outstanding_invoices(*, merchant: Merchant, close: datetime):
    """Issued invoices dated before ``close`` and not voided by then, annotated ``outstanding``: their total less
    credit notes applied and payments received before ``close`` (may be 0 or negative: filter as needed)."""
    notes = CreditNote.objects.filter(invoice=OuterRef("pk"), issued_at__lt=close)
    return (
        Invoice.objects.filter(merchant=merchant, issued_at__lt=close, finalized_at__isnull=False)
        .exclude(status=Invoice.Status.DRAFT)
        .exclude(voided_at__lt=close)
        .annotate(
            outstanding=F("total") - _sum_before(notes, "amount_applied") - paid_by(close)
        )
    )


@dataclass(frozen=True)
class AgingRow:
    customer: str
    customer_name: str
    currency: str
    amounts: dict[str, Decimal]  # bucket → amount, and "total"


def aging_rows(*, merchant: Merchant, as_of: date) -> list[AgingRow]:
    """One row per customer and currency with something outstanding at the close of ``as_of``."""
    tz = merchant.timezone
    close = day_start(as_of + timedelta(days=1), tz)
    edges = [day_start(as_of - timedelta(days=days), tz) for days in (0, 30, 60, 90)]
    bounds = {
        "current": Q(due_at__gte=edges[0]),
        "1_30": Q(due_at__gte=edges[1], due_at__lt=edges[0]),
        "31_60": Q(due_at__gte=edges[2], due_at__lt=edges[1]),
        "61_90": Q(due_at__gte=edges[3], due_at__lt=edges[2]),
        "over_90": Q(due_at__lt=edges[3]),
    }
    sums = {
        f"b_{bucket}": Coalesce(
            Sum(Case(When(condition, then=F("outstanding")), default=_zero(), output_field=_MONEY)), _zero()
        )
        for bucket, condition in bounds.items()
    }
    rows = (
        outstanding_invoices(merchant=merchant, close=close)
        .filter(outstanding__gt=0)
        .values("customer__external_id", "customer__name", "currency")
        .annotate(**sums, b_total=Sum("outstanding"))
        .order_by("customer__external_id", "currency")
    )
    return [
        AgingRow(row["customer__external_id"], row["customer__name"], row["currency"],
                 {key: row[f"b_{key}"] for key in (*BUCKETS, "total")})  # fmt: skip
        for row in rows
    ]


def aging_totals(rows: list[AgingRow]) -> dict[str, dict[str, Decimal]]:
    totals: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        into = totals.setdefault(row.currency, dict.fromkeys((*BUCKETS, "total"), ZERO))
        for key, amount in row.amounts.items():
            into[key] += amount
    return dict(sorted(totals.items()))


def receivables_report(*, merchant: Merchant, as_of: date) -> dict:
    """SPEC §11.2's answer: amounts as strings with the currency's decimals."""
    rows = aging_rows(merchant=merchant, as_of=as_of)

    def money(amounts: dict[str, Decimal], currency: str) -> dict[str, str]:
        return {key: to_str(amount, currency) for key, amount in amounts.items()}

    return {
        "as_of": as_of.isoformat(),
        "results": [
            {"customer": row.customer, "customer_name": row.customer_name, "currency": row.currency,
             **money(row.amounts, row.currency)}  # fmt: skip
            for row in rows
        ],
        "totals": {currency: money(amounts, currency) for currency, amounts in aging_totals(rows).items()},
    }
