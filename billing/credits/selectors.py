"""Reads of prepaid credit: each grant's state at an instant and a customer's balance with usage accrued."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Sum

from billing.credits.models import CreditGrant, CreditLedgerEntry
from billing.credits.services import ZERO, draw_order, grant_balances, grant_reservations
from billing.usage.selectors import customer_usage_amounts
from customers.models import Customer


@dataclass(frozen=True)
class GrantState:
    grant: CreditGrant
    remaining: Decimal  # ledger balance of the grant
    reserved: Decimal  # held by draft invoices
    accrued: Decimal  # drawn by usage accrued in open periods, not yet invoiced

    @property
    def available(self) -> Decimal:
        return max(ZERO, self.remaining - self.reserved - self.accrued)

    @property
    def is_expired(self) -> bool:
        return self.grant.expired_at is not None


def grant_states(*, customer: Customer, at: datetime, accrued: dict[str, Decimal] | None = None) -> list[GrantState]:
    """Every grant of a customer with its ledger remaining, draft reservations and, for the grants usable at
    ``at``, the share of ``accrued`` (usage amount so far in open periods, per currency) it would pay."""
    grants = list(CreditGrant.objects.filter(customer=customer).order_by("pk"))
    ids = [grant.pk for grant in grants]
    balances = grant_balances(ids)
    reserved = grant_reservations(ids)
    left = dict(accrued or {})
    draws: dict[int, Decimal] = {}
    for grant in draw_order(grants):
        usable = grant.granted_at <= at and (grant.expires_at is None or grant.expires_at > at)
        if not usable or left.get(grant.currency, ZERO) <= 0:
            continue
        free = max(ZERO, balances[grant.pk] - reserved[grant.pk])
        take = min(free, left[grant.currency])
        draws[grant.pk] = take
        left[grant.currency] -= take
    return [
        GrantState(grant=g, remaining=balances[g.pk], reserved=reserved[g.pk], accrued=draws.get(g.pk, ZERO))
        for g in grants
    ]


def usage_accrued(*, customer: Customer, at: datetime) -> dict[str, Decimal]:
    """The amount of usage accrued so far in the customer's open periods, per currency (billing/usage/selectors.py)."""
    return customer_usage_amounts(customer=customer, at=at)


def credit_summary(*, customer: Customer, at: datetime) -> dict:
    """Balance (the ledger's sum), what drafts hold, what open-period usage has drawn, and the available rest."""
    accrued = usage_accrued(customer=customer, at=at)
    states: list[GrantState] = grant_states(customer=customer, at=at, accrued=accrued)
    currencies = sorted({state.grant.currency for state in states}) or [customer.currency]
    ledger = CreditLedgerEntry.objects.filter(customer=customer)
    by_currency = {}
    for currency in currencies:
        mine = [s for s in states if s.grant.currency == currency]
        totals = {
            kind: ledger.filter(grant__currency=currency, kind=kind).aggregate(t=Sum("amount"))["t"] or ZERO
            for kind in CreditLedgerEntry.Kind.values
        }
        by_currency[currency] = {
            "balance": sum((s.remaining for s in mine), ZERO),
            "reserved": sum((s.reserved for s in mine), ZERO),
            "accrued_usage": sum((s.accrued for s in mine), ZERO),
            "available": sum((s.available for s in mine if not s.is_expired), ZERO),
            "granted": totals["grant"],
            "consumed": -totals["consumption"],
            "expired": -totals["expiry"],
            "restored": totals["restoration"],
        }
    return {"currencies": by_currency, "states": states}
