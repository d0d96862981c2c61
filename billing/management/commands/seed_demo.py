"""python manage.py seed_demo: load the Northwind Cloud demo merchant (SPEC §9; billing/demo/)."""

import time

from django.core.management.base import BaseCommand, CommandError

from atlas.audit.context import acting_as
from billing.credit_notes.models import CreditNote
from billing.credits.models import CreditGrant
from billing.demo import DemoExists, demo_seed
from billing.invoices.models import Invoice
from billing.subscriptions.models import Subscription
from catalog.models import Plan
from customers.models import Customer, CustomerUser
from metering.models import Event

DEFAULT_EMAIL = "demo@atlas.test"
DEFAULT_PASSWORD = "atlas-demo-password"


class Command(BaseCommand):
    help = (
        "Load a realistic demo merchant: plans of every pricing model, customers, users, three months of events, "
        "credits, and finalized invoices with PDFs. Refuses to run twice for the same login."
    )

    def add_arguments(self, parser):
        parser.add_argument("--email", default=DEFAULT_EMAIL, help=f"The demo login (default {DEFAULT_EMAIL})")
        parser.add_argument("--password", default=DEFAULT_PASSWORD, help="The demo password")
        parser.add_argument(
            "--scale", type=float, default=1.0, help="Multiplies customers and events (1.0: ~48 and ~150,000)"
        )
        parser.add_argument(
            "--render-pdfs", action="store_true",
            help="Render every invoice PDF now instead of queueing them for the jobs cluster (qcluster)",
        )  # fmt: skip

    def handle(self, *args, email, password, scale, render_pdfs=False, **options):
        if scale <= 0:
            raise CommandError("--scale: must be greater than 0")
        started = time.monotonic()
        try:
            with acting_as(system_label="demo seed"):  # the audit log's actor for what the seed creates
                merchant = demo_seed(
                    email=email, password=password, scale=scale, render_pdfs=render_pdfs,
                    log=self._progress if options.get("verbosity", 1) > 0 else None,
                )  # fmt: skip
        except DemoExists as exc:
            raise CommandError(str(exc))
        elapsed = time.monotonic() - started
        counts = {
            "plans": Plan.objects.filter(merchant=merchant).count(),
            "customers": Customer.objects.filter(merchant=merchant).count(),
            "users": CustomerUser.objects.filter(merchant=merchant).count(),
            "subscriptions": Subscription.objects.filter(merchant=merchant).count(),
            "events": Event.objects.filter(merchant=merchant).count(),
            "credit grants": CreditGrant.objects.filter(merchant=merchant).count(),
            "invoices": Invoice.objects.filter(merchant=merchant).count(),
            "credit notes": CreditNote.objects.filter(merchant=merchant).count(),
        }
        summary = ", ".join(f"{value:,} {name}" for name, value in counts.items())
        self.stdout.write(self.style.SUCCESS(f"Demo merchant {merchant.name!r} loaded in {elapsed:.1f} s: {summary}."))
        self.stdout.write(f"Log in with {email} / {password}")

    def _progress(self, message: str) -> None:
        """Each stage as it ends, flushed at once: a long load shows it is moving."""
        self.stdout.write(f"  {message}")
        self.stdout.flush()
