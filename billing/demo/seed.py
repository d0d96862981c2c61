"""Demo data: a living merchant for the cockpit's first run (SPEC §9, ``python manage.py seed_demo``).

``demo_seed`` builds *Northwind Cloud* through the real services only, in the order a merchant would live it:
catalog (metrics of every aggregation, features, plans covering every pricing model, a grandfathered v1/v2),
customers (a reseller with children, a test customer, USD and EUR), users provisioned over time (their seat
events come from provisioning), subscriptions (calendar and anniversary anchors, trials, a cancellation, plan
changes), credit grants, three months of usage events ending at ``now`` (``events_ingest`` in batches of 1,000),
the metrics' pre-aggregated state (``metric_state_rebuild``, the documented backfill), then the nightly billing
run for every past midnight, payments on the older invoices, two credit notes (``credit_note_issue``), and the
invoice PDFs: queued for the jobs cluster as the billing run queues them (``make run`` starts it beside the web
server), or rendered here with ``render_pdfs=True``. A download renders a PDF that is not stored yet, so the demo is
complete either way; queueing takes the PDFs (about half of the old load time) out of the wait.

Everything random comes from one seeded generator, so the same ``now`` and ``scale`` give the same data.
``scale`` multiplies the filler customers and the event volume (1.0: ~48 customers, ~150,000 events); the
customers that demonstrate a feature (trial, churn, reseller, …) are always there.
"""

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from atlas.models import Merchant
from atlas.services import merchant_update
from billing.demo.base import HISTORY_DAYS, SEED, SIGNUP_LEAD_DAYS, D, DemoCustomer, midnight
from billing.demo.billing import BillingSteps
from billing.demo.catalog import CatalogSteps
from billing.demo.customers import CustomerSteps
from billing.demo.usage import UsageSteps
from billing.invoices.issuing import invoices_queue_pdfs
from billing.invoices.models import Invoice
from billing.invoices.tasks import invoice_render_pdf
from billing.subscriptions.models import Subscription
from catalog.models import Feature, Metric


class DemoExists(Exception):
    """The demo was already loaded for this login."""


class Seeder(CatalogSteps, CustomerSteps, UsageSteps, BillingSteps):
    """The demo merchant's state; each stage's steps (one mixin per module) add to it."""


    def __init__(self, *, email: str, password: str, now: datetime, scale: float, log: Callable[[str], None]):
        self.email, self.password = email, password
        self.now = now
        self.today = midnight(now.date())
        self.origin = self.today - timedelta(days=HISTORY_DAYS)  # three months of usage ending now
        self.start = self.origin - timedelta(days=SIGNUP_LEAD_DAYS)  # the earliest sign-up
        self.growth_v2_at = self.origin + timedelta(days=20)
        self.scale = scale
        self.log = log
        self.rng = random.Random(SEED)
        self.customers: dict[str, DemoCustomer] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.metrics: dict[str, Metric] = {}
        self.features: dict[str, Feature] = {}
        self.events_sent = 0

    def day(self, days_ago: float, hour: int = 0) -> datetime:
        return self.today - timedelta(days=days_ago) + timedelta(hours=hour)

    # --- the merchant -----------------------------------------------------------------------------------------

    def merchant_create(self) -> Merchant:
        from atlas.services import merchant_create

        merchant, _, _ = merchant_create(
            name="Northwind Cloud",
            email=self.email,
            password=self.password,
            billing_day=1,
            invoice_prefix="NWC",
            default_tax_rate=D("0.20"),
            invoice_grace_hours=0,
            timezone="UTC",
            payment_terms_days=30,
            company_address="18 Finsbury Square\nLondon EC2A 1AH\nUnited Kingdom",
            company_tax_id="GB 284 1937 55",
        )
        self.merchant = merchant_update(
            merchant=merchant, company_name="Northwind Cloud Ltd", company_email="billing@northwind.example"
        )
        return self.merchant


def demo_seed(
    *,
    email: str,
    password: str,
    now: datetime | None = None,
    scale: float = 1.0,
    log: Callable[[str], None] | None = None,
    render_pdfs: bool = False,
) -> Merchant:
    """Load the Northwind Cloud demo for the Atlas login ``email``; refuses (``DemoExists``) if that login exists.

    Everything up to the billing runs is one transaction, so a failure leaves nothing behind and can be re-run.
    PDFs come afterwards, outside it (no rendering inside a transaction): queued for the jobs cluster, or rendered
    here with ``render_pdfs``.
    """
    if scale <= 0:
        raise ValueError("scale: must be greater than 0")
    if get_user_model().objects.filter(username=email).exists():
        raise DemoExists(
            f"An Atlas login {email!r} already exists, so the demo was not loaded again. "
            "Log in with it, or pass another --email."
        )
    now = now or timezone.now()
    say = log or (lambda message: None)
    seeder = Seeder(email=email, password=password, now=now, scale=scale, log=say)
    started = time.monotonic()

    def step(message: str) -> None:
        say(f"[{time.monotonic() - started:5.1f}s] {message}")

    if connection.vendor == "sqlite":
        # The demo is one transaction of ~70 MB: with SQLite's default 2 MB page cache it spills to the WAL file
        # over and over. This connection may keep up to 256 MB of pages instead (allocated only as used).
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -262144")
    with transaction.atomic():
        merchant = seeder.merchant_create()
        seeder.catalog()
        step(f"catalog: {len(seeder.metrics)} metrics, {len(seeder.features)} features, {len(seeder.plans)} plans")
        seeder.customers_create()
        seeder.lifecycle()
        step(f"customers: {len(seeder.customers)}, subscriptions: {len(seeder.subscriptions)}")
        seeder.users_provision()
        seeder.credits_grant()
        step(f"users: {sum(len(e.users) for e in seeder.customers.values())}, credit grants loaded")
        payloads = seeder.events_generate()
        accepted = seeder.events_send(payloads)
        step(f"usage events: {accepted} ingested")
        seeder.state_rebuild()
        step("pre-aggregated usage state built")
        runs = seeder.bill()
        seeder.payments_record()
        notes = seeder.corrections_issue()
        invoices = Invoice.objects.filter(merchant=merchant).count()
        step(f"billing: {runs} runs, {invoices} invoices, {notes} credit notes")
    issued = Invoice.objects.filter(merchant=merchant, status__in=[Invoice.Status.FINALIZED, Invoice.Status.PAID])
    if render_pdfs:
        rendered = 0
        for pk in issued.order_by("pk").values_list("pk", flat=True):
            invoice_render_pdf(pk)
            rendered += 1
        step(f"PDFs: {rendered} rendered")
    else:
        # The billing runs queued theirs once the transaction committed; this claims whatever is still unclaimed.
        queued = invoices_queue_pdfs(issued.filter(pdf="", pdf_queued_at__isnull=True))
        waiting = issued.filter(pdf="").count()
        step(f"PDFs: {waiting} queued for the jobs cluster ({queued} just now); a download renders one at once")
    return merchant
