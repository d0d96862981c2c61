"""Writes of prepaid credit: grants, reservation by draft invoices, consumption, restore and expiry (SPEC §6)."""

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from atlas.models import Merchant
from billing.credits.models import CreditApplication, CreditGrant, CreditLedgerEntry
from billing.invoices.models import Invoice
from customers.models import Customer

ZERO = Decimal("0")


def _sum(queryset, field: str = "amount") -> Decimal:
    return queryset.aggregate(total=Sum(field))["total"] or ZERO


def draw_order(grants):
    """Priority, then earliest expiry (none last), then oldest."""
    return sorted(
        grants,
        key=lambda g: (g.priority, g.expires_at is None, g.expires_at or g.granted_at, g.granted_at, g.pk),
    )


@transaction.atomic
def credit_grant_create(
    *,
    merchant: Merchant,
    customer: Customer,
    amount: Decimal,
    currency: str,
    priority: int = 100,
    expires_at: datetime | None = None,
    granted_at: datetime | None = None,
    reason: str = "",
) -> CreditGrant:
    """Load prepaid money for a customer; the grant is the ledger's first entry for it.

    A grant expires after it is granted (``expires_at`` > ``granted_at``, default now), or it is refused.
    """
    granted_at = granted_at or timezone.now()
    if expires_at is not None and expires_at <= granted_at:
        raise ValidationError({"expires_at": "must be after granted_at"})
    with transaction.atomic():
        grant = CreditGrant.objects.create(
            merchant=merchant, customer=customer, amount=amount, currency=currency, priority=priority,
            expires_at=expires_at, granted_at=granted_at, reason=reason,
        )  # fmt: skip
        CreditLedgerEntry.objects.create(
            merchant=merchant, customer=customer, grant=grant, kind=CreditLedgerEntry.Kind.GRANT, amount=amount,
            at=grant.granted_at,
        )  # fmt: skip
    return grant


def grant_balances(grant_ids) -> dict[int, Decimal]:
    """The ledger balance of each grant: granted − consumed − expired + restored."""
    rows = (
        CreditLedgerEntry.objects.filter(grant_id__in=list(grant_ids))
        .values("grant_id")
        .annotate(total=Sum("amount"))
    )
    balances = dict.fromkeys(grant_ids, ZERO)
    balances.update({row["grant_id"]: row["total"] or ZERO for row in rows})
    return balances


def grant_reservations(grant_ids, *, exclude_invoice_id: int | None = None) -> dict[int, Decimal]:
    """What draft invoices hold on each grant."""
    queryset = CreditApplication.objects.filter(grant_id__in=list(grant_ids), invoice__status=Invoice.Status.DRAFT)
    if exclude_invoice_id is not None:
        queryset = queryset.exclude(invoice_id=exclude_invoice_id)
    reserved = dict.fromkeys(grant_ids, ZERO)
    for row in queryset.values("grant_id").annotate(total=Sum("amount")):
        reserved[row["grant_id"]] = row["total"] or ZERO
    return reserved


def credits_reserve(*, invoice: Invoice, creditable: Decimal) -> Decimal:
    """Reserve credits for a draft invoice's usage lines (``creditable``, rounded); returns the amount applied.

    Runs inside the caller's transaction. The customer's grants are locked in pk order first, so two invoices of
    one customer reserving at once queue rather than both spending the same balance.
    """
    CreditApplication.objects.filter(invoice=invoice).delete()
    if creditable <= 0:
        return ZERO
    at = invoice.issued_at
    grants = list(
        CreditGrant.objects.select_for_update()
        .filter(customer_id=invoice.customer_id, currency=invoice.currency, granted_at__lte=at)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .order_by("pk")
    )
    if not grants:
        return ZERO
    ids = [grant.pk for grant in grants]
    balances = grant_balances(ids)
    reserved = grant_reservations(ids, exclude_invoice_id=invoice.pk)
    left = creditable
    applications = []
    for grant in draw_order(grants):
        available = balances[grant.pk] - reserved[grant.pk]
        if available <= 0:
            continue
        take = min(available, left)
        applications.append(
            CreditApplication(merchant_id=invoice.merchant_id, invoice=invoice, grant=grant, amount=take)
        )
        left -= take
        if left <= 0:
            break
    CreditApplication.objects.bulk_create(applications)
    return creditable - left


def credits_consume(*, invoice: Invoice, at: datetime) -> None:
    """At finalization, the reservations become ledger consumption (inside the finalization transaction)."""
    applications = list(invoice.credit_applications.select_related("grant").order_by("grant_id"))
    grants = {
        grant.pk: grant
        for grant in CreditGrant.objects.select_for_update()
        .filter(pk__in=[a.grant_id for a in applications])
        .order_by("pk")
    }
    CreditLedgerEntry.objects.bulk_create(
        CreditLedgerEntry(
            merchant_id=invoice.merchant_id, customer_id=invoice.customer_id, grant_id=a.grant_id,
            kind=CreditLedgerEntry.Kind.CONSUMPTION, amount=-a.amount, invoice=invoice, at=at,
        )  # fmt: skip
        for a in applications
    )
    # A grant that expired while this invoice was a draft loses whatever the draft no longer needs.
    _expire_leftovers(
        [g for g in grants.values() if g.expired_at is not None], at=at, exclude_invoice_id=invoice.pk
    )


def credits_restore(*, invoice: Invoice, at: datetime) -> None:
    """Voiding a finalized invoice gives its consumed credits back (an expired grant's return expires at once)."""
    consumed = list(
        CreditLedgerEntry.objects.filter(invoice=invoice, kind=CreditLedgerEntry.Kind.CONSUMPTION).order_by("grant_id")
    )
    locked = CreditGrant.objects.select_for_update().filter(pk__in=[e.grant_id for e in consumed]).order_by("pk")
    grants = {grant.pk: grant for grant in locked}
    CreditLedgerEntry.objects.bulk_create(
        CreditLedgerEntry(
            merchant_id=invoice.merchant_id, customer_id=invoice.customer_id, grant_id=entry.grant_id,
            kind=CreditLedgerEntry.Kind.RESTORATION, amount=-entry.amount, invoice=invoice, at=at,
        )  # fmt: skip
        for entry in consumed
    )
    _expire_leftovers([g for g in grants.values() if g.expired_at is not None], at=at)


def _expire_leftovers(grants, *, at: datetime, exclude_invoice_id: int | None = None) -> None:
    if not grants:
        return
    ids = [grant.pk for grant in grants]
    balances = grant_balances(ids)
    reserved = grant_reservations(ids, exclude_invoice_id=exclude_invoice_id)
    CreditLedgerEntry.objects.bulk_create(
        CreditLedgerEntry(
            merchant_id=grant.merchant_id, customer_id=grant.customer_id, grant=grant,
            kind=CreditLedgerEntry.Kind.EXPIRY, amount=-(balances[grant.pk] - reserved[grant.pk]), at=at,
        )  # fmt: skip
        for grant in grants
        if balances[grant.pk] - reserved[grant.pk] > 0
    )


def credit_grant_expire(*, grant: CreditGrant) -> bool:
    """Record the expiry of one grant: only its unused, unreserved remainder is lost. Idempotent."""
    with transaction.atomic():
        locked = CreditGrant.objects.select_for_update().filter(pk=grant.pk, expired_at__isnull=True).first()
        if locked is None or locked.expires_at is None:
            return False
        CreditGrant.objects.filter(pk=locked.pk).update(expired_at=locked.expires_at)
        _expire_leftovers([locked], at=locked.expires_at)
    return True


def credits_expire_due(*, as_of: datetime, merchant: Merchant | None = None) -> int:
    """Expire every grant whose ``expires_at`` is at or before ``as_of``; returns how many."""
    queryset = CreditGrant.objects.filter(expires_at__lte=as_of, expired_at__isnull=True)
    if merchant is not None:
        queryset = queryset.filter(merchant=merchant)
    return sum(credit_grant_expire(grant=grant) for grant in queryset.order_by("expires_at", "pk"))
