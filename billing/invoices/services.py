"""An invoice's lifecycle: totals, snapshot, finalize, void (SPEC §7). Payments, and ``invoice_mark_paid`` (a payment
of what is due), are ``billing.payments.services``.

Transitions lock the row and check the current state; a finalized invoice never changes."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from atlas.money import round_line
from billing.credits.services import credit_grant_create, credits_consume, credits_reserve, credits_restore
from billing.invoices.models import Invoice, InvoiceCounter, InvoiceEvent, InvoiceLine
from billing.invoices.tasks import queue_invoice_pdf

ZERO = Decimal("0")


SYSTEM_ACTOR = "billing run"


class IllegalTransition(Exception):
    """The invoice is not in a state this action can start from."""

    def __init__(self, invoice: Invoice, action: str, because: str = ""):
        self.invoice = invoice
        self.action = action
        super().__init__(f"cannot {action} an invoice that is {because or invoice.status}")


def invoice_lock(invoice: Invoice) -> Invoice:
    """The invoice row, locked for the rest of the caller's transaction."""
    return Invoice.objects.select_for_update().select_related("customer", "merchant").get(pk=invoice.pk)


def invoice_audit(
    invoice: Invoice, *, from_state: str, to_state: str, actor: str, at: datetime, note: str = ""
) -> None:
    """One row of the invoice's audit trail."""
    InvoiceEvent.objects.create(
        merchant_id=invoice.merchant_id, invoice=invoice, from_state=from_state, to_state=to_state,
        actor=actor[:255], at=at, note=note[:300],
    )  # fmt: skip


def tax_rate_for(customer) -> Decimal:
    """The customer's own rate, else the merchant's default."""
    return customer.tax_rate if customer.tax_rate is not None else customer.merchant.default_tax_rate


def customer_address(customer) -> str:
    city_line = " ".join(part for part in (customer.postal_code, customer.city) if part)
    parts = [customer.address_line1, customer.address_line2, city_line, customer.state, customer.country]
    return "\n".join(part for part in parts if part)


def invoice_snapshot(invoice: Invoice) -> None:
    """Copy the customer's name, address, tax id and tax rate, and the merchant's details (with its payment
    instructions), onto the invoice."""
    customer, merchant = invoice.customer, invoice.merchant
    invoice.customer_name = customer.name
    invoice.customer_email = customer.email
    invoice.customer_address = customer_address(customer)
    invoice.customer_external_id = customer.external_id
    invoice.customer_tax_id = customer.tax_id
    invoice.tax_rate = tax_rate_for(customer)
    invoice.merchant_details = {
        "name": merchant.company_name or merchant.name,
        "address": merchant.company_address,
        "email": merchant.company_email,
        "tax_id": merchant.company_tax_id,
        "payment_instructions": merchant.payment_instructions,
    }


def invoice_amounts_set(invoice: Invoice, *, subtotal: Decimal, credits_applied: Decimal) -> None:
    """SPEC §8's totals, in memory: tax = round(tax_rate × (subtotal − credits)), rounded once per invoice;
    total = subtotal − credits + tax; amount due = total less payments recorded."""
    taxable = subtotal - credits_applied
    invoice.subtotal = subtotal
    invoice.credits_applied = credits_applied
    invoice.tax = round_line(invoice.tax_rate * taxable, invoice.currency)
    invoice.total = taxable + invoice.tax
    invoice.amount_due = invoice.total - invoice.amount_paid


def invoice_totals(invoice: Invoice, *, reserve_credits: bool = True) -> None:
    """Subtotal is the sum of the rounded lines; credits pay the usage lines; tax is rounded once.

    Saves the invoice; runs inside the caller's transaction (credits lock the customer's grants).
    """
    lines = list(invoice.lines.all())
    subtotal = sum((line.amount for line in lines), ZERO)
    creditable = sum((line.amount for line in lines if line.type in InvoiceLine.CREDITABLE), ZERO)
    creditable = max(ZERO, min(creditable, subtotal))
    credits = credits_reserve(invoice=invoice, creditable=creditable) if reserve_credits else invoice.credits_applied
    invoice_amounts_set(invoice, subtotal=subtotal, credits_applied=credits)
    invoice.save()


def invoice_settle_negative(invoice: Invoice, *, at: datetime) -> None:
    """A finalized invoice whose total is negative (a final invoice refunding unused in-advance fees) leaves
    nothing due: its amount becomes customer credit (a grant with no expiry), and the invoice is settled.

    Runs inside the finalization's transaction, on the locked invoice, after it is numbered; saves nothing else.
    """
    if invoice.total >= 0 or invoice.credit_grant_id is not None:
        return
    invoice.credit_grant = credit_grant_create(
        merchant=invoice.merchant, customer=invoice.customer, amount=-invoice.total, currency=invoice.currency,
        granted_at=at, reason=f"Credit from invoice {invoice.number}",
    )  # fmt: skip
    invoice.amount_due = ZERO


def _next_number(invoice: Invoice, at: datetime) -> str:
    merchant = invoice.merchant
    year = invoice.issued_at.astimezone(ZoneInfo(merchant.timezone)).year
    return f"{merchant.invoice_prefix}-{year}-{InvoiceCounter.take(merchant_id=merchant.pk, year=year):06d}"


def invoice_finalize(*, invoice: Invoice, at: datetime | None = None, actor: str = SYSTEM_ACTOR) -> Invoice:
    """Number, snapshot and freeze a draft; its credit reservations become ledger consumption.

    The PDF is queued after commit, outside the transaction.
    """
    at = at or timezone.now()
    with transaction.atomic():
        locked = invoice_lock(invoice)
        if locked.status != Invoice.Status.DRAFT:
            raise IllegalTransition(locked, "finalize")
        invoice_snapshot(locked)
        invoice_totals(locked)
        credits_consume(invoice=locked, at=at)
        locked.number = _next_number(locked, at)
        locked.status = Invoice.Status.FINALIZED
        locked.finalized_at = at
        invoice_settle_negative(locked, at=at)
        if locked.amount_due <= 0:
            # Nothing to collect (credits covered it, or a refund): settled on issue.
            locked.status = Invoice.Status.PAID
            locked.paid_at = at
        locked.save()
        invoice_audit(locked, from_state=Invoice.Status.DRAFT, to_state=Invoice.Status.FINALIZED, actor=actor, at=at)
        if locked.status == Invoice.Status.PAID:
            invoice_audit(locked, from_state=Invoice.Status.FINALIZED, to_state=Invoice.Status.PAID, actor=actor, at=at,
                   note="nothing due")  # fmt: skip
        invoice_pdf_follow(locked)
    return locked


PDF_CLAIM_EXPIRES = timedelta(hours=1)  # a claim this old is a rendering that failed: taken again


def invoice_pdf_queue(*, invoice_id: int) -> bool:
    """Claim the rendering of an issued invoice's PDF (compare-and-set on ``pdf_queued_at``, the claim the billing
    run's retry pass also takes) and queue it; False if a rendering is claimed already (it renders the state it
    finds when it stores, so it covers this change too). Call after commit."""
    stale = timezone.now() - PDF_CLAIM_EXPIRES
    claimed = (
        Invoice.objects.filter(pk=invoice_id).exclude(status=Invoice.Status.DRAFT)
        .filter(Q(pdf_queued_at__isnull=True) | Q(pdf_queued_at__lt=stale))
        .update(pdf_queued_at=timezone.now())
    )  # fmt: skip
    if claimed:
        queue_invoice_pdf(invoice_id)
    return bool(claimed)


def invoice_pdf_follow(invoice: Invoice) -> None:
    """The stored PDF follows the invoice: once the caller's transaction commits, render it again (SPEC §11.1)."""
    invoice_id = invoice.pk
    transaction.on_commit(lambda: invoice_pdf_queue(invoice_id=invoice_id), robust=True)


def invoice_void(*, invoice: Invoice, at: datetime | None = None, actor: str = SYSTEM_ACTOR) -> Invoice:
    """A draft or a finalized (unpaid) invoice can be voided; a finalized one gives its credits back. An invoice
    with credit notes cannot: they are issued documents that refer to it; nor one with money paid on it (refund the
    payments first)."""
    at = at or timezone.now()
    with transaction.atomic():
        locked = invoice_lock(invoice)
        if locked.status not in (Invoice.Status.DRAFT, Invoice.Status.FINALIZED):
            raise IllegalTransition(locked, "void")
        if locked.credited > 0:
            raise IllegalTransition(locked, "void", because="partly credited (it has credit notes)")
        if locked.amount_paid > 0:
            raise IllegalTransition(locked, "void", because="partly paid (refund its payments first)")
        previous = locked.status
        if previous == Invoice.Status.FINALIZED:
            credits_restore(invoice=locked, at=at)
        else:
            locked.credit_applications.all().delete()
        locked.status = Invoice.Status.VOID
        locked.voided_at = at
        locked.amount_due = ZERO
        locked.save(update_fields=["status", "voided_at", "amount_due"])
        invoice_audit(locked, from_state=previous, to_state=Invoice.Status.VOID, actor=actor, at=at)
        invoice_pdf_follow(locked)
    return locked


def due_date(*, issued_at: datetime, merchant, customer=None) -> datetime:
    """Net terms: the customer's ``payment_terms_days`` when set, else the merchant's."""
    days = getattr(customer, "payment_terms_days", None)
    return issued_at + timedelta(days=merchant.payment_terms_days if days is None else days)
