"""What an invoice holds: the issue instants of a subscription and the lines each one bills.

``InvoiceBuilder`` turns a subscription and an issue instant into a draft (base fees in advance or in
arrears, usage rated from raw events, minimums, one-time fees, plan-change adjustments), reading
everything a batch of subscriptions needs in a few queries. It writes nothing: ``billing.invoices.issuing``
saves what it builds."""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Sum

from atlas.money import round_line
from billing.invoices.models import Invoice, InvoiceLine
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import Period, proration
from billing.subscriptions.selectors import calendar_for
from catalog.models import Charge, Metric, PlanVersion
from catalog.rating import PricedCharge
from customers.selectors import Exclusion, ExclusionIndex, billing_exclusions
from metering.aggregation import aggregate, aggregate_subscriptions, events_for
from metering.models import Event

ZERO = Decimal("0")


ADVANCE = PlanVersion.Timing.IN_ADVANCE


def billable_from(subscription: Subscription) -> datetime:
    """Nothing is charged before this instant: the trial end, or the start."""
    trial_end = subscription.trial_ends_at
    return max(subscription.started_at, trial_end) if trial_end else subscription.started_at


def has_advance_lines(version: PlanVersion, charges: list[Charge], *, first: bool) -> bool:
    if version.base_fee > 0 and version.base_fee_timing == ADVANCE:
        return True
    if any(charge.timing == ADVANCE for charge in charges):
        return True
    return first and bool(version.one_time_fees.all())


def issue_instants(subscription: Subscription, *, until: datetime) -> list[datetime]:
    """The instants at or before ``until`` at which this subscription is invoiced, in order."""
    if subscription.ends_at is not None and subscription.ends_at <= subscription.started_at:
        return []  # ended the instant it started: nothing to bill
    version = subscription.plan_version
    charges = list(version.charges.all())
    calendar = calendar_for(subscription)
    billable = billable_from(subscription)
    instants = []
    opening = billable if subscription.ends_at is None or billable < subscription.ends_at else None
    # The opening invoice, when something is due up front (in-advance lines, one-time fees).
    if opening is not None and opening <= until and has_advance_lines(version, charges, first=True):
        instants.append(opening)
    for period in calendar.periods(until):
        if period.end <= until and period.end > billable:
            instants.append(period.end)
        elif period.end > until:
            break
    return sorted(set(instants))


@dataclass
class Window:
    start: datetime
    end: datetime
    period: Period

    @property
    def empty(self) -> bool:
        return self.end <= self.start


@dataclass
class Draft:
    """The lines of one invoice before they are saved."""

    lines: list[InvoiceLine] = field(default_factory=list)

    def add(self, **values) -> None:
        self.lines.append(InvoiceLine(position=len(self.lines), **values))


def _midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _fmt(day: datetime, tz: str) -> str:
    return day.astimezone(ZoneInfo(tz)).strftime("%b %-d, %Y")


def _span(start: datetime, end: datetime, tz: str) -> str:
    return f"{_fmt(start, tz)} – {_fmt(end - timedelta(microseconds=1), tz)}"


class InvoiceBuilder:
    """Builds the lines of one subscription's invoice at one instant: the one place the invoice rules live.

    Caches compiled charges and billing exclusions across calls. ``prefetch`` answers in bulk, for many
    subscriptions at one instant, the usage and billed-line look-ups ``build`` would otherwise make one by one;
    ``build`` itself is the same for one invoice or a batch.
    """

    def __init__(self):
        self._priced: dict[tuple, PricedCharge] = {}
        self._exclusions: dict[tuple[int, date], Exclusion] = {}
        self._rules = ExclusionIndex()  # billing rules and users of the customers prefetched, read once a pass
        self._answers: dict[tuple, dict] = {}  # (subscription, metric, start, end, cutoff) -> aggregate() answer
        self._prefetched_for: tuple[datetime, datetime] | None = None  # (instant, cutoff) of what is prefetched
        self._billed: dict[int, list[InvoiceLine]] = {}  # subscription -> finalized usage lines, when prefetched
        self._quiet: set[int] = set()  # subscriptions whose customer had no event received since they were billed

    # charge parameters -----------------------------------------------------------------------------------------

    def charge_terms(self, subscription: Subscription, charge: Charge) -> dict:
        """The price table in force: the charge's, with the subscription's overrides for its metric on top."""
        override = dict((subscription.overrides or {}).get("charges", {}).get(charge.metric.code, {}))
        terms = {
            "model": charge.model,
            "params": {**charge.properties, **{k: v for k, v in override.items() if k not in _TERM_FIELDS}},
            "included_units": override.get("included_units", charge.included_units),
            "minimum_amount": override.get("minimum_amount", charge.minimum_amount),
            "maximum_amount": override.get("maximum_amount", charge.maximum_amount),
        }
        return terms

    def priced(self, subscription: Subscription, charge: Charge, terms: dict) -> PricedCharge:
        key = (charge.pk, subscription.pk if subscription.overrides else None)
        if key not in self._priced:
            self._priced[key] = PricedCharge(
                model=terms["model"],
                params=terms["params"],
                currency=subscription.plan_version.currency,
                included_units=Decimal(str(terms["included_units"] or 0)),
                minimum_amount=None if terms["minimum_amount"] is None else Decimal(str(terms["minimum_amount"])),
                maximum_amount=None if terms["maximum_amount"] is None else Decimal(str(terms["maximum_amount"])),
            )
        return self._priced[key]

    # windows ---------------------------------------------------------------------------------------------------

    def exclusion(self, subscription: Subscription, instant: datetime) -> Exclusion:
        """The customer's billing rules on the local date of ``instant``: from the rules read by ``prefetch``, else
        one look-up per customer and date."""
        on = instant.astimezone(ZoneInfo(subscription.timezone)).date()
        key = (subscription.customer_id, on)
        if key not in self._exclusions:
            customer = subscription.customer
            if self._rules.covers(customer):
                self._exclusions[key] = self._rules.exclusion(customer, on)
            else:
                self._exclusions[key] = billing_exclusions(customer=customer, on=on)
        return self._exclusions[key]

    def excluded_users(self, subscription: Subscription, instant: datetime) -> list[str]:
        return sorted(self.exclusion(subscription, instant).excluded_users)

    def clip(self, subscription: Subscription, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """Clip a window to when the customer may be billed: after the trial, between go-live and departure."""
        customer = subscription.customer
        start = max(start, billable_from(subscription))
        if customer.billing_starts_on:
            start = max(start, _midnight(customer.billing_starts_on, subscription.timezone))
        if customer.billing_ends_on:
            end = min(end, _midnight(customer.billing_ends_on, subscription.timezone))
        return start, end

    def windows(self, subscription: Subscription, instant: datetime) -> tuple[Window | None, Window | None]:
        """The billable parts of the period that opens at ``instant`` (its in-advance lines) and of the period that
        closes there (its in-arrears lines); None where nothing is billable."""
        calendar = calendar_for(subscription)
        closing = calendar.period_at(instant - timedelta(microseconds=1)) if instant > subscription.started_at else None
        if closing is not None and closing.end != instant:
            closing = None  # an instant inside a period (the trial end) closes nothing
        opening = calendar.period_at(instant)
        advance = arrears = None
        if opening is not None and instant >= billable_from(subscription):
            advance = self._billable_window(subscription, instant, opening.end, opening)
        if closing is not None:
            arrears = self._billable_window(subscription, closing.start, closing.end, closing)
        return advance, arrears

    def _billable_window(self, subscription, start: datetime, end: datetime, period: Period) -> Window | None:
        start, end = self.clip(subscription, start, end)
        window = Window(start, end, period)
        if window.empty or not self.exclusion(subscription, start).billable:
            return None
        return window

    @staticmethod
    def _previous_period(subscription: Subscription, window: Window) -> Period | None:
        """The period before ``window``'s, whose quantity an in-advance charge is billed on (None for the first)."""
        previous = calendar_for(subscription, with_end=False).period_at(window.period.start - timedelta(microseconds=1))
        return previous if previous is not None and previous.start >= subscription.started_at else None

    def usage_windows(
        self, subscription: Subscription, instant: datetime
    ) -> Iterator[tuple[Metric, datetime, datetime]]:
        """The (metric, start, end) usage ``build`` reads for the period lines at ``instant`` (not adjustments)."""
        advance, arrears = self.windows(subscription, instant)
        for charge in plan_charges(subscription.plan_version):
            if advance is not None and charge.timing == ADVANCE:
                previous = self._previous_period(subscription, advance)
                if previous is not None:
                    yield charge.metric, previous.start, previous.end
            if arrears is not None:
                yield charge.metric, arrears.start, arrears.end

    # bulk look-ups ---------------------------------------------------------------------------------------------

    def prefetch(self, subscriptions: list[Subscription], instant: datetime, *, cutoff: datetime) -> None:
        """Read in bulk what ``build`` needs for these subscriptions at ``instant``: their billing rules (two
        queries for the new customers), the period usage, one query per metric and window for all of them, and the
        finalized lines late events could adjust.

        Answers are exactly ``aggregate``'s (``metering.aggregation.aggregate_subscriptions``: each subscription's
        tagged events plus its customer's untagged ones). A customer with excluded users keeps the exact
        per-subscription query. At the same instant and cutoff, subscriptions already read are skipped: the engine
        reads a whole merchant at once (one pass over the events) and issues it in smaller transactions.
        """
        if self._prefetched_for != (instant, cutoff):
            self._prefetched_for = (instant, cutoff)
            self._answers.clear()
            self._billed.clear()
            self._quiet.clear()
        subscriptions = [subscription for subscription in subscriptions if subscription.pk not in self._billed]
        if not subscriptions:
            return
        self._rules.extend(subscription.customer for subscription in subscriptions)
        wanted: dict[tuple, list[Subscription]] = defaultdict(list)
        metrics: dict[int, Metric] = {}
        for subscription in subscriptions:
            if self.excluded_users(subscription, instant):
                continue
            for metric, start, end in self.usage_windows(subscription, instant):
                metrics[metric.pk] = metric
                wanted[(metric.pk, start, end)].append(subscription)
        for (metric_id, start, end), group in wanted.items():
            answers = aggregate_subscriptions(
                metric=metrics[metric_id], subscriptions=[(s.customer_id, s.external_id) for s in group],
                start=start, end=end, received_before=cutoff,
            )  # fmt: skip
            for subscription in group:
                key = (subscription.pk, metric_id, start, end, cutoff)
                self._answers[key] = answers[(subscription.customer_id, subscription.external_id)]
        self._prefetch_billed(subscriptions, instant, cutoff=cutoff)

    def _prefetch_billed(self, subscriptions: list[Subscription], instant: datetime, *, cutoff: datetime) -> None:
        """The finalized usage lines of these subscriptions (one query), and which of them belong to a customer
        with no event received since those lines were billed (one query): those have no late usage to adjust."""
        for subscription in subscriptions:
            self._billed[subscription.pk] = []
        for line in _billed_lines(subscription_ids=[s.pk for s in subscriptions], instant=instant):
            self._billed[line.invoice.subscription_id].append(line)
        billed = [subscription for subscription in subscriptions if self._billed[subscription.pk]]
        if not billed:
            return
        lines = [line for subscription in billed for line in self._billed[subscription.pk]]
        maybe_late = set(
            Event.objects.filter(
                customer_id__in={subscription.customer_id for subscription in billed},
                received_at__gte=min(line.received_before for line in lines), received_at__lt=cutoff,
                timestamp__lt=max(line.window_end for line in lines),
            ).values_list("customer_id", flat=True).distinct()
        )  # fmt: skip
        self._quiet.update(s.pk for s in billed if s.customer_id not in maybe_late)

    # building --------------------------------------------------------------------------------------------------

    def build(self, subscription: Subscription, instant: datetime, *, cutoff: datetime) -> Draft:
        version = subscription.plan_version
        currency = version.currency
        tz = subscription.timezone
        charges = plan_charges(version)
        draft = Draft()
        excluded_users = self.excluded_users(subscription, instant)
        advance, arrears = self.windows(subscription, instant)
        is_final = subscription.ends_at is not None and instant >= subscription.ends_at

        # In advance: the period starting here (or the rest of it after a trial).
        if advance is not None:
            first_opening = instant == billable_from(subscription)
            if version.base_fee > 0 and version.base_fee_timing == ADVANCE:
                self._base_fee(draft, version, advance, tz, currency)
            for charge in charges:
                if charge.timing == ADVANCE:
                    self._advance_charge(draft, subscription, charge, advance, cutoff, excluded_users)
            if first_opening and subscription.previous_id is None:
                for fee in version.one_time_fees.all():
                    draft.add(
                        type=InvoiceLine.Type.ONE_TIME, description=fee.name, quantity=Decimal(1),
                        amount=round_line(fee.amount, currency), service_start=instant, service_end=instant,
                        price={"amount": str(fee.amount)},
                    )  # fmt: skip

        # In arrears: the period that ended here.
        if arrears is not None:
            if version.base_fee > 0 and version.base_fee_timing != ADVANCE:
                self._base_fee(draft, version, arrears, tz, currency)
            for charge in charges:
                billed = self._advance_billed(subscription, charge, arrears) if charge.timing == ADVANCE else None
                self._usage(draft, subscription, charge, arrears, cutoff, excluded_users, tz, advance_billed=billed)

        if is_final:
            self._unused_advance_credit(draft, subscription, version, tz, currency)

        self._adjustments(draft, subscription, charges, instant, cutoff, excluded_users, tz)
        return draft

    @staticmethod
    def _advance_billed(subscription: Subscription, charge: Charge, window: Window) -> Decimal:
        return (
            InvoiceLine.objects.filter(
                invoice__subscription=subscription, charge=charge, type=InvoiceLine.Type.USAGE,
                service_start=window.start, window_start__isnull=True,
            )
            .exclude(invoice__status=Invoice.Status.VOID)
            .aggregate(total=Sum("amount"))["total"]
            or ZERO
        )

    def _base_fee(self, draft: Draft, version: PlanVersion, window: Window, tz: str, currency: str) -> None:
        period = window.period
        factor = proration(
            start=window.start, end=window.end, full_start=period.full_start, full_end=period.full_end, timezone=tz
        )
        amount = round_line(version.base_fee * factor, currency)
        description = f"{version.plan.name} base fee"
        if factor != 1:
            description += f" (prorated {_span(window.start, window.end, tz)})"
        draft.add(
            type=InvoiceLine.Type.BASE_FEE, description=description, quantity=factor, amount=amount,
            unit_amount=version.base_fee, service_start=window.start, service_end=window.end,
            price={"base_fee": str(version.base_fee), "timing": version.base_fee_timing, "proration": str(factor)},
            breakdown=[{"base_fee": str(version.base_fee), "proration": str(factor), "amount": str(amount)}],
        )  # fmt: skip

    def _aggregate(self, subscription, metric, start, end, cutoff, excluded_users):
        if not excluded_users:
            prefetched = self._answers.get((subscription.pk, metric.pk, start, end, cutoff))
            if prefetched is not None:
                return prefetched
        return aggregate(
            metric=metric,
            customer_id=subscription.customer_id,
            start=start,
            end=end,
            subscription_external_id=subscription.external_id,
            include_untagged=True,
            received_before=cutoff,
            exclude_users=excluded_users or None,
        )

    def _rate_usage(self, subscription, charge, usage):
        """Rate a metric's usage: matrix charges per dimension tuple, other grouped metrics one rating per group."""
        terms = self.charge_terms(subscription, charge)
        priced = self.priced(subscription, charge, terms)
        metric = charge.metric
        ratings = []
        if charge.model == Charge.Model.MATRIX:
            dimensions = list(priced.params["dimensions"])
            group_by = list(metric.group_by or [])
            groups: dict[tuple, Decimal] = defaultdict(Decimal)
            events = 0
            for key, value in usage.items():
                by_name = dict(zip(group_by, key, strict=False))
                groups[tuple(str(by_name.get(d, "")) for d in dimensions)] += value.quantity
                events += value.events_count
            ratings.append((None, priced.rate(groups=dict(groups), events_count=events), events))
        elif usage and any(usage):
            for key in sorted(usage):
                value = usage[key]
                group = dict(zip(metric.group_by or [], key, strict=False))
                ratings.append((group, priced.rate(value.quantity, events_count=value.events_count),
                                value.events_count))  # fmt: skip
        else:
            value = usage.get((), None)
            quantity = value.quantity if value else ZERO
            events = value.events_count if value else 0
            ratings.append((None, priced.rate(quantity, events_count=events), events))
        return terms, ratings

    def _usage(self, draft, subscription, charge, window, cutoff, excluded_users, tz, *, advance_billed=None):
        metric = charge.metric
        usage = self._aggregate(subscription, metric, window.start, window.end, cutoff, excluded_users)
        terms, ratings = self._rate_usage(subscription, charge, usage)
        currency = subscription.plan_version.currency
        base = dict(
            charge=charge, metric=metric, metric_code=metric.code, service_start=window.start,
            service_end=window.end, window_start=window.start, window_end=window.end, received_before=cutoff,
            price={**_json_terms(terms), "excluded_users": excluded_users},
        )  # fmt: skip
        name = charge.description or metric.name
        if advance_billed is not None:
            # True-up of an in-advance charge: only what the period's usage costs beyond what was billed up front.
            amount = sum((rating.amount for _, rating, _ in ratings), ZERO)
            draft.add(
                type=InvoiceLine.Type.USAGE, description=f"{name} (true-up)",
                quantity=sum((rating.quantity for _, rating, _ in ratings), ZERO),
                raw_quantity=sum((rating.raw_quantity for _, rating, _ in ratings), ZERO),
                amount=max(ZERO, amount - advance_billed),
                breakdown=[row for _, rating, _ in ratings for row in rating.breakdown]
                + [{"billed_in_advance": str(advance_billed), "period_amount": str(amount)}],
                events_count=sum(events for _, _, events in ratings), **base,
            )  # fmt: skip
            return
        for group, rating, events in ratings:
            if charge.model == Charge.Model.MATRIX and rating.amount == sum((g.amount for g in rating.groups), ZERO):
                for g in rating.groups:
                    draft.add(
                        type=InvoiceLine.Type.USAGE, description=f"{name} ({_group_text(g.group)})", group=g.group,
                        quantity=g.quantity, raw_quantity=g.quantity, unit_amount=g.unit_amount, amount=g.amount,
                        breakdown=[row for row in rating.breakdown if row.get("group") == g.group],
                        events_count=self._group_events(usage, metric, g.group), **base,
                    )  # fmt: skip
            else:
                description = name if not group else f"{name} ({_group_text(group)})"
                draft.add(
                    type=InvoiceLine.Type.USAGE, description=description, group=group or None,
                    quantity=rating.quantity, raw_quantity=rating.raw_quantity, amount=rating.amount,
                    breakdown=rating.breakdown, events_count=events, **base,
                )  # fmt: skip
            if rating.minimum_true_up > 0:
                draft.add(
                    type=InvoiceLine.Type.MINIMUM, description=f"{name} minimum commitment",
                    quantity=Decimal(1), amount=round_line(rating.minimum_true_up, currency),
                    breakdown=[{"minimum_amount": str(terms["minimum_amount"]), "billed": str(rating.amount)}],
                    **base,
                )  # fmt: skip

    @staticmethod
    def _group_events(usage, metric, group) -> int:
        total = 0
        for key, value in usage.items():
            by_name = dict(zip(metric.group_by or [], key, strict=False))
            if all(str(by_name.get(k, "")) == v for k, v in group.items()):
                total += value.events_count
        return total

    def _advance_charge(self, draft, subscription, charge, window, cutoff, excluded_users) -> None:
        """An in-advance charge is billed at period start on the quantity of the period before (0 for the first);
        extra units are trued up on the next invoice."""
        metric = charge.metric
        previous = self._previous_period(subscription, window)
        if previous is not None:
            usage = self._aggregate(subscription, metric, previous.start, previous.end, cutoff, excluded_users)
        else:
            usage = {}
        terms, ratings = self._rate_usage(subscription, charge, usage)
        amount = sum((rating.amount for _, rating, _ in ratings), ZERO)
        quantity = sum((rating.quantity for _, rating, _ in ratings), ZERO)
        draft.add(
            type=InvoiceLine.Type.USAGE, description=f"{charge.description or metric.name} (in advance)",
            charge=charge, metric=metric, metric_code=metric.code, quantity=quantity, amount=amount,
            breakdown=[row for _, rating, _ in ratings for row in rating.breakdown],
            service_start=window.start, service_end=window.end, received_before=cutoff,
            price={**_json_terms(terms), "timing": ADVANCE},
        )  # fmt: skip

    def _unused_advance_credit(self, draft, subscription, version, tz, currency) -> None:
        """Terminated mid-period: in-advance base fees already billed come back pro rata for the unused days."""
        end = subscription.ends_at
        billed = InvoiceLine.objects.filter(
            invoice__subscription=subscription,
            type=InvoiceLine.Type.BASE_FEE,
            service_end__gt=end,
            amount__gt=0,
        ).exclude(invoice__status=Invoice.Status.VOID)
        open_calendar = calendar_for(subscription, with_end=False)
        for line in billed:
            period = open_calendar.period_at(line.service_start)
            start = max(end, line.service_start)
            factor = proration(
                start=start, end=line.service_end, full_start=period.full_start, full_end=period.full_end, timezone=tz
            )
            fee = line.unit_amount or version.base_fee
            amount = round_line(fee * factor, currency)
            if amount <= 0:
                continue
            draft.add(
                type=InvoiceLine.Type.BASE_FEE,
                description=f"Unused {version.plan.name} base fee ({_span(start, line.service_end, tz)})",
                quantity=-factor, unit_amount=fee, amount=-amount, service_start=start, service_end=line.service_end,
                price={"base_fee": str(fee), "proration": str(factor), "credits_line": line.pk},
                breakdown=[{"base_fee": str(fee), "proration": str(-factor), "amount": str(-amount)}],
            )  # fmt: skip

    def _adjustments(self, draft, subscription, charges, instant, cutoff, excluded_users, tz) -> None:
        """Late events for periods already on a finalized invoice become adjustment lines here."""
        if self._prefetched_for == (instant, cutoff) and subscription.pk in self._billed:
            billed = self._billed[subscription.pk]
            if subscription.pk in self._quiet:
                return  # nothing received since these lines were billed: nothing late
        else:
            billed = list(_billed_lines(subscription_ids=[subscription.pk], instant=instant))
        if not billed:
            return
        windows: dict[tuple, dict] = {}
        for line in billed:
            key = (line.charge_id, line.window_start, line.window_end)
            entry = windows.setdefault(key, {"amount": ZERO, "since": line.received_before, "invoice": None})
            entry["amount"] += line.amount
            entry["since"] = max(entry["since"], line.received_before)
            if line.type != InvoiceLine.Type.ADJUSTMENT and entry["invoice"] is None:
                entry["invoice"] = line.invoice
        by_charge = {charge.pk: charge for charge in charges}
        for (charge_id, start, end), entry in sorted(windows.items(), key=lambda item: (item[0][1], item[0][0])):
            charge = by_charge.get(charge_id)
            if charge is None or entry["since"] >= cutoff:
                continue
            late_count = events_for(
                metric=charge.metric, customer_id=subscription.customer_id, start=start, end=end,
                subscription_external_id=subscription.external_id, received_after=entry["since"],
                received_before=cutoff, exclude_users=excluded_users or None,
            ).count()  # fmt: skip
            if not late_count:
                continue
            usage = self._aggregate(subscription, charge.metric, start, end, cutoff, excluded_users)
            terms, ratings = self._rate_usage(subscription, charge, usage)
            now = sum((rating.amount + rating.minimum_true_up for _, rating, _ in ratings), ZERO)
            delta = now - entry["amount"]
            if delta == 0:
                continue
            quantity = sum((rating.raw_quantity for _, rating, _ in ratings), ZERO)
            original = entry["invoice"]
            draft.add(
                type=InvoiceLine.Type.ADJUSTMENT,
                description=f"{charge.description or charge.metric.name}: late usage for {_span(start, end, tz)}"
                + (f" ({original.number})" if original and original.number else ""),
                charge=charge, metric=charge.metric, metric_code=charge.metric.code, quantity=quantity,
                raw_quantity=quantity, amount=delta, events_count=late_count,
                breakdown=[row for _, rating, _ in ratings for row in rating.breakdown]
                + [{"previously_billed": str(entry["amount"]), "now": str(now), "adjustment": str(delta)}],
                service_start=start, service_end=end, window_start=start, window_end=end,
                received_after=entry["since"], received_before=cutoff, adjusted_invoice=original,
                price={**_json_terms(terms), "excluded_users": excluded_users},
            )  # fmt: skip


_TERM_FIELDS = {"included_units", "minimum_amount", "maximum_amount"}


def plan_charges(version: PlanVersion) -> list[Charge]:
    """The version's charges with their metrics: the prefetched ones when the caller loaded them."""
    if "charges" in getattr(version, "_prefetched_objects_cache", {}):
        return list(version.charges.all())
    return list(version.charges.select_related("metric").all())


def _billed_lines(*, subscription_ids: list[int], instant: datetime):
    """Usage already billed on finalized invoices issued before ``instant``: what late events may adjust."""
    return InvoiceLine.objects.filter(
        invoice__subscription_id__in=subscription_ids,
        invoice__status__in=[Invoice.Status.FINALIZED, Invoice.Status.PAID],
        invoice__issued_at__lt=instant,
        type__in=[InvoiceLine.Type.USAGE, InvoiceLine.Type.MINIMUM, InvoiceLine.Type.ADJUSTMENT],
        window_start__isnull=False,
    ).select_related("invoice").order_by("invoice__subscription_id", "invoice", "position", "pk")


def _json_terms(terms: dict) -> dict:
    def text(value):
        return None if value is None else str(value)

    return {
        "model": terms["model"],
        "params": terms["params"],
        "included_units": text(terms["included_units"]),
        "minimum_amount": text(terms["minimum_amount"]),
        "maximum_amount": text(terms["maximum_amount"]),
    }


def _group_text(group: dict) -> str:
    return ", ".join(f"{key}: {value}" for key, value in group.items())


def lines_signature(lines) -> list[tuple]:
    return [
        (line.type, line.description, line.charge_id, line.group, line.quantity, line.amount, line.events_count,
         line.service_start, line.service_end)
        for line in lines
    ]  # fmt: skip
