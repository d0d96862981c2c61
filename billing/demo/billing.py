"""Demo steps: credit grants, the nightly billing run for every past day, payments and credit notes."""

from datetime import timedelta

from atlas.money import round_line
from billing.credit_notes.services import credit_note_issue
from billing.credits.services import credit_grant_create
from billing.demo.base import D, midnight
from billing.invoices.models import Invoice, InvoiceLine
from billing.payments.services import invoice_mark_paid
from billing.runs.engine import billing_run


class BillingSteps:
    # --- credits ----------------------------------------------------------------------------------------------

    def credits_grant(self) -> None:
        rng = self.rng
        m, f = self.merchant, self.featured
        massive = f["massive"]
        credit_grant_create(merchant=m, customer=massive.customer, amount=D("5000.00"), currency="USD", priority=50,
                            granted_at=massive.signup, reason="Prepaid commitment (annual contract)")  # fmt: skip
        hooli = f["hooli"]
        credit_grant_create(merchant=m, customer=hooli.customer, amount=D("250.00"), currency="USD", priority=1,
                            granted_at=self.day(35, 16), expires_at=self.day(-60),
                            reason="Service credit: API latency incident")  # fmt: skip
        vandelay = f["vandelay"]
        credit_grant_create(merchant=m, customer=vandelay.customer, amount=D("100.00"), currency="USD", priority=10,
                            granted_at=vandelay.signup, expires_at=vandelay.signup + timedelta(days=30),
                            reason="Trial credit (unused remainder expires)")  # fmt: skip
        cyberdyne = f["cyberdyne"]
        credit_grant_create(merchant=m, customer=cyberdyne.customer, amount=D("150.00"), currency="EUR",
                            granted_at=self.day(50), reason="Goodwill credit")  # fmt: skip
        featured = {id(entry) for entry in f.values()}
        for entry in self.customers.values():
            if entry.customer.parent_id or id(entry) in featured or entry.customer.is_test or rng.random() > 0.35:
                continue
            granted = entry.signup
            credit_grant_create(
                merchant=m, customer=entry.customer, amount=D(rng.choice(("50.00", "100.00", "200.00"))),
                currency=entry.customer.currency, priority=10, granted_at=granted,
                expires_at=granted + timedelta(days=60), reason="Welcome credit",
            )  # fmt: skip


    # --- billing ----------------------------------------------------------------------------------------------

    def bill(self) -> int:
        """The nightly run at every past midnight since the first subscription, then once at ``now``."""
        first = min(s.started_at for s in self.subscriptions.values())
        day = midnight(first.date()) + timedelta(days=1)
        runs = 0
        while day <= self.now:
            billing_run(as_of=day, merchant=self.merchant, trigger="seed_demo")
            day += timedelta(days=1)
            runs += 1
        billing_run(as_of=self.now, merchant=self.merchant, trigger="seed_demo")
        return runs + 1

    def payments_record(self) -> None:
        """Most customers pay within three weeks; a few invoices stay open (some overdue)."""
        rng = self.rng
        invoices = Invoice.objects.filter(merchant=self.merchant, status=Invoice.Status.FINALIZED).order_by("pk")
        for invoice in invoices:
            paid_at = invoice.finalized_at + timedelta(days=rng.uniform(1, 21), hours=rng.uniform(0, 8))
            if paid_at < self.now and rng.random() < 0.88:
                invoice_mark_paid(invoice=invoice, at=paid_at, actor="seed_demo (payment received)")

    def corrections_issue(self) -> int:
        """Two credit notes, as support would issue them: a goodwill credit on a paid invoice's usage (returned as
        customer credit) and a billing error on an open invoice's base fee (off its amount due)."""
        issued = Invoice.objects.filter(merchant=self.merchant, total__gt=0).order_by("pk")
        cases = [
            (issued.filter(status=Invoice.Status.PAID, lines__type=InvoiceLine.Type.USAGE, lines__amount__gt=0),
             InvoiceLine.Type.USAGE, "product_unsatisfactory", "Goodwill: degraded API latency for two days"),
            (issued.filter(status=Invoice.Status.FINALIZED, lines__type=InvoiceLine.Type.BASE_FEE,
                           lines__amount__gt=0),
             InvoiceLine.Type.BASE_FEE, "billing_error", "Seat count corrected after the upgrade"),
        ]  # fmt: skip
        notes = 0
        for candidates, line_type, reason, memo in cases:
            invoice = candidates.distinct().last()
            if invoice is None:
                continue
            line = invoice.lines.filter(type=line_type, amount__gt=0).order_by("pk").first()
            # A tenth of the line, and never more than a tenth of what the invoice charged.
            amount = round_line(min(line.amount, invoice.total / (1 + invoice.tax_rate)) / 10, invoice.currency)
            if amount <= 0:
                continue
            at = min(invoice.finalized_at + timedelta(days=3), self.now - timedelta(hours=1))
            credit_note_issue(invoice=invoice, lines=[(line.pk, amount)], reason=reason, memo=memo, at=at,
                              actor="seed_demo (support)")  # fmt: skip
            notes += 1
        return notes
