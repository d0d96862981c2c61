"""Revenue analytics for the cockpit: MRR and its movements, net revenue retention, deferred revenue, and the
dashboard's aggregates. Definitions (docs/analytics.md):

- **MRR** at an instant is the sum, over subscriptions active and out of trial then (test customers left out), of
  the plan version's base fee normalised to a month (month ÷ n, quarter ÷ 3n, year ÷ 12n, week × 52 ÷ 12n) and
  rounded once, half-up, per subscription. Usage is not recurring revenue: it shows in revenue billed.
- A month's MRR is taken at its last instant (at *now* for the current month); months are calendar months in the
  merchant's time zone.
- **Movements** compare each customer's MRR with the month before: from 0 is *new*, to 0 is *churn*, up is
  *expansion*, down is *contraction*; ``previous + new + expansion + contraction + churn == current`` exactly.
- **NRR** over a span is what the customers paying at its start pay at its end, over what they paid at its start.
- **Deferred revenue**: lines billed in advance (service ending after the invoice's issue instant, on finalized or
  paid invoices) are recognised evenly by local day over their service period from their issue; cumulative
  recognition is rounded, so a line's monthly parts always add up to its amount.

The functions in the first half are pure (no database); the selectors below them fetch with one query each.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth

from atlas.models import Merchant
from atlas.money import round_line
from billing.credit_notes.models import CreditNote, CreditNoteLine
from billing.credits.models import CreditLedgerEntry
from billing.invoices.models import Invoice, InvoiceLine
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import proration
from metering.models import EventCount

ZERO = Decimal("0")
ONE_MICROSECOND = timedelta(microseconds=1)
BILLED = (Invoice.Status.FINALIZED, Invoice.Status.PAID)
RATIO_PLACES = Decimal("0.0001")


# --- months ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    """A calendar month in the merchant's time zone: ``[start, end)``, aware."""

    year: int
    month: int
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def snapshot(self, now: datetime) -> datetime:
        """The instant this month's MRR is read at: its last instant, or now for the month in progress."""
        return min(self.end - ONE_MICROSECOND, now)


def _shift(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + by
    return index // 12, index % 12 + 1


def months_ending(*, year: int, month: int, count: int, timezone: str) -> list[Month]:
    """``count`` consecutive months, the last one being ``year``-``month``."""
    tz = ZoneInfo(timezone)
    months = []
    for offset in range(count - 1, -1, -1):
        y, m = _shift(year, month, -offset)
        ny, nm = _shift(y, m, 1)
        months.append(
            Month(
                y,
                m,
                datetime(y, m, 1, tzinfo=tz).astimezone(ZoneInfo("UTC")),
                datetime(ny, nm, 1, tzinfo=tz).astimezone(ZoneInfo("UTC")),
            )
        )
    return months


def month_of(instant: datetime, timezone: str) -> tuple[int, int]:
    local = instant.astimezone(ZoneInfo(timezone))
    return local.year, local.month


# --- MRR (pure) -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecurringTerms:
    """What MRR needs to know of one subscription."""

    customer_id: int
    currency: str
    base_fee: Decimal
    interval: str
    interval_count: int
    started_at: datetime
    ends_at: datetime | None = None
    trial_ends_at: datetime | None = None

    def is_paying_at(self, at: datetime) -> bool:
        active = self.started_at <= at and (self.ends_at is None or at < self.ends_at)
        return active and (self.trial_ends_at is None or at >= self.trial_ends_at)


def monthly_amount(*, base_fee: Decimal, interval: str, interval_count: int, currency: str) -> Decimal:
    """A base fee normalised to one month, rounded half-up to the currency's minor unit."""
    if interval == "month":
        monthly = base_fee / interval_count
    elif interval == "quarter":
        monthly = base_fee / (3 * interval_count)
    elif interval == "year":
        monthly = base_fee / (12 * interval_count)
    elif interval == "week":
        monthly = base_fee * 52 / (12 * interval_count)
    else:
        raise ValueError(f"interval: unknown interval {interval!r}")
    return round_line(monthly, currency)


def mrr_by_customer(terms: Iterable[RecurringTerms], at: datetime) -> dict[int, Decimal]:
    """Each paying customer's MRR at ``at`` (customers whose MRR is zero are left out)."""
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for term in terms:
        if term.is_paying_at(at):
            totals[term.customer_id] += monthly_amount(
                base_fee=term.base_fee,
                interval=term.interval,
                interval_count=term.interval_count,
                currency=term.currency,
            )
    return {customer: amount for customer, amount in totals.items() if amount != 0}


@dataclass(frozen=True)
class Movements:
    new: Decimal = ZERO
    expansion: Decimal = ZERO
    contraction: Decimal = ZERO  # negative or zero
    churn: Decimal = ZERO  # negative or zero
    new_customers: int = 0
    churned_customers: int = 0

    @property
    def net(self) -> Decimal:
        return self.new + self.expansion + self.contraction + self.churn


def mrr_movements(previous: dict[int, Decimal], current: dict[int, Decimal]) -> Movements:
    """Classify each customer's change between two MRR snapshots."""
    new = expansion = contraction = churn = ZERO
    new_customers = churned_customers = 0
    for customer in previous.keys() | current.keys():
        before, after = previous.get(customer, ZERO), current.get(customer, ZERO)
        if before == 0 and after != 0:
            new += after
            new_customers += 1
        elif before != 0 and after == 0:
            churn -= before
            churned_customers += 1
        elif after > before:
            expansion += after - before
        elif after < before:
            contraction += after - before
    return Movements(new, expansion, contraction, churn, new_customers, churned_customers)


def net_revenue_retention(start: dict[int, Decimal], end: dict[int, Decimal]) -> Decimal | None:
    """What the customers paying at ``start`` pay at ``end`` over what they paid then (None without a base)."""
    base = sum(start.values(), ZERO)
    if base <= 0:
        return None
    kept = sum((end.get(customer, ZERO) for customer in start), ZERO)
    return (kept / base).quantize(RATIO_PLACES)


@dataclass(frozen=True)
class MrrMonth:
    month: Month
    starting: Decimal
    movements: Movements
    mrr: Decimal
    customers: int
    nrr: Decimal | None  # month over month


@dataclass(frozen=True)
class MrrReport:
    currency: str
    months: list[MrrMonth]
    # Over the span: from the first snapshot with paying customers (the end of the month before the first month,
    # or a later month's end for a younger book) to the last snapshot; None when that is the last snapshot itself.
    nrr: Decimal | None
    by_customer: dict[int, Decimal] = field(default_factory=dict)  # at the last snapshot
    nrr_base: Month | None = None  # the month at whose end NRR's base is read (None: the opening snapshot)

    @property
    def mrr(self) -> Decimal:
        return self.months[-1].mrr

    @property
    def arr(self) -> Decimal:
        """Annual run rate of recurring fees: twelve times MRR (each part already rounded, so exact)."""
        return self.mrr * 12


def mrr_report_from(terms: list[RecurringTerms], *, months: list[Month], now: datetime, currency: str) -> MrrReport:
    opening = months[0].start - ONE_MICROSECOND
    previous = mrr_by_customer(terms, min(opening, now))
    # NRR's base: the opening snapshot, or for a book younger than the window the end of its first paying month.
    base, base_month, base_index = previous, None, (-1 if previous else None)
    rows = []
    for index, month in enumerate(months):
        current = mrr_by_customer(terms, month.snapshot(now))
        if base_index is None and current:
            base, base_month, base_index = current, month, index
        rows.append(
            MrrMonth(
                month=month,
                starting=sum(previous.values(), ZERO),
                movements=mrr_movements(previous, current),
                mrr=sum(current.values(), ZERO),
                customers=len(current),
                nrr=net_revenue_retention(previous, current),
            )
        )
        previous = current
    nrr = net_revenue_retention(base, previous) if base_index is not None and base_index < len(months) - 1 else None
    return MrrReport(currency=currency, months=rows, nrr=nrr, by_customer=previous, nrr_base=base_month)


# --- Deferred revenue (pure) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdvanceLine:
    """An amount billed before its service: recognised over ``[service_start, service_end)`` from ``issued_at``."""

    amount: Decimal
    currency: str
    issued_at: datetime
    service_start: datetime
    service_end: datetime


def recognised_through(line: AdvanceLine, at: datetime, timezone: str) -> Decimal:
    """What of ``line`` is recognised by the instant ``at``: nothing before it is billed, then the elapsed share of
    its service period by local days, rounded (cumulatively, so the parts add up to the amount)."""
    if at <= line.issued_at or at <= line.service_start:
        return ZERO
    if at >= line.service_end:
        return line.amount
    share = proration(
        start=line.service_start, end=at, full_start=line.service_start, full_end=line.service_end, timezone=timezone
    )
    return round_line(line.amount * share, line.currency)


@dataclass(frozen=True)
class RecognitionMonth:
    month: Month
    billed: Decimal  # in-advance amounts issued in the month
    recognised: Decimal
    deferred: Decimal  # balance at the month's end


def recognition_schedule(
    lines: Iterable[AdvanceLine], *, months: list[Month], timezone: str, now: datetime | None = None
) -> list[RecognitionMonth]:
    """Per month: what was billed in advance, what was recognised, and the deferred balance at its end.

    With ``now``, the month in progress stops there: recognised so far and deferred now, not a projection.
    """
    cuts = [month.end if now is None else max(month.start, min(month.end, now)) for month in months]
    billed = [ZERO] * len(months)
    recognised = [ZERO] * len(months)
    deferred = [ZERO] * len(months)
    for line in lines:
        before = recognised_through(line, months[0].start, timezone)
        for index, month in enumerate(months):
            through = recognised_through(line, cuts[index], timezone)
            recognised[index] += through - before
            before = through
            if month.start <= line.issued_at < cuts[index]:
                billed[index] += line.amount
            if line.issued_at < cuts[index]:
                deferred[index] += line.amount - through
    return [RecognitionMonth(month, billed[i], recognised[i], deferred[i]) for i, month in enumerate(months)]


# --- selectors ------------------------------------------------------------------------------------------------


def reporting_currencies(*, merchant: Merchant) -> list[str]:
    """The merchant's currencies, the most subscribed first (one query)."""
    rows = (
        Subscription.objects.filter(merchant=merchant)
        .values("plan_version__currency")
        .annotate(n=Count("id"))
        .order_by("-n", "plan_version__currency")
    )
    return [row["plan_version__currency"] for row in rows]


def recurring_terms(*, merchant: Merchant, currency: str, start: datetime, end: datetime) -> list[RecurringTerms]:
    """Subscriptions in ``currency`` that overlap ``[start, end]``, test customers left out (one query)."""
    rows = (
        Subscription.objects.filter(
            merchant=merchant, plan_version__currency=currency, customer__is_test=False, started_at__lte=end
        )
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=start))
        .values_list(
            "customer_id",
            "plan_version__base_fee",
            "plan_version__interval",
            "plan_version__interval_count",
            "started_at",
            "ends_at",
            "trial_ends_at",
        )
    )
    return [
        RecurringTerms(customer, currency, fee, interval, count, started, ends, trial)
        for customer, fee, interval, count, started, ends, trial in rows
    ]


def mrr_report(*, merchant: Merchant, currency: str, months: list[Month], now: datetime) -> MrrReport:
    terms = recurring_terms(
        merchant=merchant, currency=currency, start=months[0].start - ONE_MICROSECOND, end=months[-1].snapshot(now)
    )
    return mrr_report_from(terms, months=months, now=now, currency=currency)


def mrr_at(*, merchant: Merchant, currency: str, at: datetime) -> Decimal:
    terms = recurring_terms(merchant=merchant, currency=currency, start=at, end=at)
    return sum(mrr_by_customer(terms, at).values(), ZERO)


def advance_lines(*, merchant: Merchant, currency: str, start: datetime, end: datetime) -> Iterable[AdvanceLine]:
    """Lines billed in advance on finalized or paid invoices issued before ``end`` whose service outlasts
    ``start``, then the credit notes on such lines issued before ``end`` (two queries, streamed).

    A credit note on an in-advance line is that line's amount reduced when the note is issued: a negative line
    over the same service period, billed at the note's issue. Recognition's cumulative catch-up then takes back
    at once what the credited part had already earned, and the rest over the service left (IFRS 15's change in
    transaction price); a note issued after the service ended comes off the month it is issued in.
    """
    def in_advance(path: str = "") -> dict:  # the line's service outlasts its invoice's issue
        return {f"{path}service_end__gt": F(f"{path}invoice__issued_at"), f"{path}invoice__currency": currency,
                f"{path}invoice__status__in": BILLED}  # fmt: skip

    rows = (
        InvoiceLine.objects.filter(merchant=merchant, invoice__issued_at__lt=end, service_end__gt=start)
        .filter(**in_advance())
        .order_by()
        .values_list("amount", "invoice__issued_at", "service_start", "service_end")
    )
    for amount, issued_at, service_start, service_end in rows.iterator(chunk_size=2000):
        yield AdvanceLine(amount, currency, issued_at, service_start, service_end)
    credits = (
        CreditNoteLine.objects.filter(
            Q(invoice_line__service_end__gt=start) | Q(credit_note__issued_at__gte=start),
            credit_note__merchant=merchant,
            credit_note__issued_at__lt=end,
            **in_advance("invoice_line__"),
        )
        .order_by()
        .values_list("amount", "credit_note__issued_at", "invoice_line__service_start", "invoice_line__service_end")
    )
    for amount, issued_at, service_start, service_end in credits.iterator(chunk_size=2000):
        yield AdvanceLine(-amount, currency, issued_at, service_start, service_end)


def deferred_revenue_report(
    *, merchant: Merchant, currency: str, months: list[Month], now: datetime | None = None
) -> list[RecognitionMonth]:
    lines = advance_lines(merchant=merchant, currency=currency, start=months[0].start, end=months[-1].end)
    return recognition_schedule(lines, months=months, timezone=merchant.timezone, now=now)


# --- usage revenue --------------------------------------------------------------------------------------------

USAGE_TYPES = InvoiceLine.CREDITABLE  # usage, minimum true-ups and late-event adjustments: what usage earns


def usage_revenue(
    *, merchant: Merchant, currency: str, periods_from: datetime, periods_to: datetime, issued_from: datetime,
    issued_to: datetime,
) -> tuple[Decimal, Decimal]:
    """Two usage figures in two queries (lines, then credit notes), each net of the credit notes on its lines:

    - the usage of the service periods that start in ``[periods_from, periods_to)``: the usage, minimum and
      adjustment lines of finalized and paid invoices (usage is billed in arrears, so a month's figure is complete
      once its periods are invoiced), less the credit notes on those lines;
    - the usage invoiced in ``[issued_from, issued_to)``: the same lines of invoices issued then, less the credit
      notes on usage lines issued then.
    """
    by_period = Q(service_start__gte=periods_from, service_start__lt=periods_to)
    by_issue = Q(invoice__issued_at__gte=issued_from, invoice__issued_at__lt=issued_to)
    lines = InvoiceLine.objects.filter(
        by_period | by_issue, merchant=merchant, type__in=USAGE_TYPES, invoice__currency=currency,
        invoice__status__in=BILLED,
    ).aggregate(period=Sum("amount", filter=by_period), issued=Sum("amount", filter=by_issue))  # fmt: skip
    line_period = Q(invoice_line__service_start__gte=periods_from, invoice_line__service_start__lt=periods_to,
                    invoice_line__invoice__status__in=BILLED)  # fmt: skip
    note_issued = Q(credit_note__issued_at__gte=issued_from, credit_note__issued_at__lt=issued_to)
    credits = CreditNoteLine.objects.filter(
        line_period | note_issued, credit_note__merchant=merchant, credit_note__currency=currency,
        invoice_line__type__in=USAGE_TYPES,
    ).aggregate(period=Sum("amount", filter=line_period), issued=Sum("amount", filter=note_issued))  # fmt: skip
    return (
        (lines["period"] or ZERO) - (credits["period"] or ZERO),
        (lines["issued"] or ZERO) - (credits["issued"] or ZERO),
    )


@dataclass(frozen=True)
class RevenueRunRate:
    """Recurring fees (MRR, ARR) beside usage: what the last full month's usage added, and the last 30 days'."""

    currency: str
    mrr: Decimal
    arr: Decimal
    usage_month: Month  # the last full calendar month
    usage_last_month: Decimal
    usage_30_days: Decimal

    @property
    def monthly_total(self) -> Decimal:
        """MRR plus the last full month's usage: what a month of the business brings in now."""
        return self.mrr + self.usage_last_month


def revenue_run_rate(*, merchant: Merchant, currency: str, mrr: Decimal, now: datetime) -> RevenueRunRate:
    year, month = month_of(now, merchant.timezone)
    last_year, last_month = _shift(year, month, -1)
    (last,) = months_ending(year=last_year, month=last_month, count=1, timezone=merchant.timezone)
    last_month, last_30_days = usage_revenue(
        merchant=merchant, currency=currency, periods_from=last.start, periods_to=last.end,
        issued_from=now - timedelta(days=30), issued_to=now,
    )  # fmt: skip
    return RevenueRunRate(currency=currency, mrr=mrr, arr=mrr * 12, usage_month=last, usage_last_month=last_month,
                          usage_30_days=last_30_days)  # fmt: skip


# --- dashboard aggregates -------------------------------------------------------------------------------------


def revenue_by_month(*, merchant: Merchant, currency: str, months: list[Month]) -> list[tuple[Month, Decimal]]:
    """Revenue billed per month, net of credit notes: the subtotals (before credits and tax) of finalized and paid
    invoices by issue month, less the subtotals of credit notes by their issue month (two GROUP BY queries)."""
    tz = ZoneInfo(merchant.timezone)
    window = {"merchant": merchant, "currency": currency, "issued_at__gte": months[0].start,
              "issued_at__lt": months[-1].end}  # fmt: skip
    totals: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    for queryset, sign in ((Invoice.objects.filter(status__in=BILLED, **window), 1),
                           (CreditNote.objects.filter(**window), -1)):  # fmt: skip
        rows = (
            queryset.annotate(month=TruncMonth("issued_at", tzinfo=tz))
            .values("month")
            .annotate(total=Sum("subtotal"))
            .order_by()
        )
        for row in rows:
            local = row["month"].astimezone(tz) if row["month"].tzinfo else row["month"]
            totals[(local.year, local.month)] += sign * (row["total"] or ZERO)
    return [(month, totals[(month.year, month.month)]) for month in months]


def events_per_day(*, merchant: Merchant, start: date, days: int) -> list[tuple[date, int]]:
    """Events per local day over ``days`` days from ``start``, by event timestamp.

    Read from metering's quarter-hour counts (at most 96 rows a day, whatever the event volume), which are
    exact for local days in every time zone.
    """
    tz = ZoneInfo(merchant.timezone)
    low = datetime.combine(start, datetime.min.time(), tzinfo=tz)
    high = datetime.combine(start + timedelta(days=days), datetime.min.time(), tzinfo=tz)
    counts: dict[date, int] = {}
    buckets = EventCount.objects.filter(merchant=merchant, bucket__gte=low, bucket__lt=high)
    for bucket, n in buckets.values_list("bucket", "count"):
        day = bucket.astimezone(tz).date()
        counts[day] = counts.get(day, 0) + n
    return [(start + timedelta(days=i), counts.get(start + timedelta(days=i), 0)) for i in range(days)]


def credits_outstanding(*, merchant: Merchant) -> dict[str, Decimal]:
    """The credit ledger's balance per currency: granted − consumed − expired + restored (one query)."""
    rows = (
        CreditLedgerEntry.objects.filter(merchant=merchant)
        .values("grant__currency")
        .annotate(total=Sum("amount"))
        .order_by("grant__currency")
    )
    return {row["grant__currency"]: row["total"] or ZERO for row in rows}


def top_customers(*, merchant: Merchant, currency: str, since: datetime, limit: int = 10) -> list[dict]:
    """Customers by revenue billed since ``since``: finalized and paid subtotals less the subtotals of credit notes
    issued since then, highest first (one query)."""
    credited = (
        CreditNote.objects.filter(customer_id=OuterRef("customer_id"), currency=currency, issued_at__gte=since)
        .values("customer_id")
        .annotate(total=Sum("subtotal"))
        .values("total")
    )
    return list(
        Invoice.objects.filter(merchant=merchant, currency=currency, status__in=BILLED, issued_at__gte=since)
        .values("customer_id", "customer__external_id", "customer__name")
        .annotate(
            revenue=Sum("subtotal") - Coalesce(Subquery(credited, output_field=Invoice._meta.get_field("subtotal")),
                                               Value(ZERO)),
            invoices=Count("id"),
        )  # fmt: skip
        .order_by("-revenue", "customer__external_id")[:limit]
    )
