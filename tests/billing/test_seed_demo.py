"""The demo merchant (``seed_demo``): every pricing model, three months of usage, issued invoices with PDFs,
credits that reconcile, and a refusal to load twice."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Sum
from django.test import override_settings
from django_q.models import OrmQ

from atlas.models import Merchant
from atlas.services import merchant_create
from billing.demo import DemoExists, demo_seed
from billing.invoices.pdf import invoice_pdf_file
from billing.invoices.tasks import invoice_render_pdf
from billing.models import CreditGrant, CreditLedgerEntry, Invoice, Subscription
from catalog.models import Charge, Metric, PlanVersion
from customers.models import Customer, CustomerUser
from metering.models import Event, MetricState

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 15, 12, 30, tzinfo=UTC)
EMAIL = "demo@atlas.test"
PROGRESS: list[str] = []


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """Seeded once for the module (it walks four months of nightly billing runs), rolled back at the end."""
    media = tmp_path_factory.mktemp("media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=media), transaction.atomic():
        PROGRESS.clear()
        yield demo_seed(email=EMAIL, password="atlas-demo-password", now=NOW, scale=0.05, log=PROGRESS.append)
        transaction.set_rollback(True)


def test_the_demo_prices_with_every_pricing_model_in_published_plans(demo):
    published = Charge.objects.filter(plan_version__merchant=demo, plan_version__status=PlanVersion.Status.PUBLISHED)
    assert set(published.values_list("model", flat=True)) == set(Charge.Model.values)
    assert set(Metric.objects.filter(merchant=demo).values_list("aggregation", flat=True)) == set(
        Metric.Aggregation.values
    )
    growth = PlanVersion.objects.filter(merchant=demo, plan__code="growth").order_by("version")
    assert [(v.version, v.status, v.base_fee) for v in growth] == [
        (1, "published", Decimal("99.00")),
        (2, "published", Decimal("119.00")),
    ]
    # Grandfathered customers stay on v1 while new ones subscribe to v2.
    on_growth = Subscription.objects.filter(merchant=demo, plan_version__plan__code="growth")
    assert {1, 2} <= set(on_growth.values_list("plan_version__version", flat=True))


def test_the_demo_has_customers_users_and_subscriptions_in_every_state(demo):
    customers = Customer.objects.filter(merchant=demo)
    assert customers.count() >= 15
    assert customers.filter(is_test=True).exists()
    assert customers.get(external_id="cus_globex_holdings").children.count() == 3
    assert set(customers.values_list("currency", flat=True)) == {"USD", "EUR"}
    assert CustomerUser.objects.filter(merchant=demo, deprovisioned_at__isnull=False).exists()
    assert Event.objects.filter(merchant=demo, code="seat").count() == (
        CustomerUser.objects.filter(merchant=demo).count()
        + CustomerUser.objects.filter(merchant=demo, deprovisioned_at__isnull=False).count()
    )
    subscriptions = Subscription.objects.filter(merchant=demo)
    assert {"calendar", "anniversary"} == set(subscriptions.values_list("billing_anchor", flat=True))
    assert subscriptions.filter(trial_ends_at__gt=NOW).exists()  # still in its trial
    assert subscriptions.filter(canceled_at__isnull=False, ends_at__lte=NOW).exists()  # churned
    assert subscriptions.filter(previous__isnull=False, started_at__lte=NOW).exists()  # upgraded
    assert subscriptions.filter(previous__isnull=False, started_at__gt=NOW).exists()  # moving at period end


def test_the_demo_has_usage_in_each_of_the_last_three_months_and_current_state(demo):
    for start, end in (
        (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
        (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
        (datetime(2026, 3, 1, tzinfo=UTC), NOW),
    ):
        month = Event.objects.filter(merchant=demo, timestamp__gte=start, timestamp__lt=end)
        assert month.filter(code="api_call").count() > 500, start
    assert not Event.objects.filter(merchant=demo, timestamp__gt=NOW).exists()
    assert 6_000 < Event.objects.filter(merchant=demo).count() < 12_000  # ~150,000 × 0.05 plus seats
    assert MetricState.objects.filter(merchant=demo).count() == Metric.objects.filter(merchant=demo).count()


def test_the_demo_has_finalized_invoices_with_pdfs(demo):
    issued = Invoice.objects.filter(merchant=demo, status__in=[Invoice.Status.FINALIZED, Invoice.Status.PAID])
    assert issued.count() >= 20
    assert issued.filter(status=Invoice.Status.PAID).exists()
    assert issued.filter(status=Invoice.Status.FINALIZED).exists()
    assert not Invoice.objects.filter(merchant=demo, customer__is_test=True).exists()
    # Every PDF is queued for the jobs cluster (claimed, one task each), not rendered inside the load.
    queued = {task.name() for task in OrmQ.objects.all()}
    for invoice in issued:
        assert invoice.pdf_queued_at is not None and not invoice.pdf, invoice.number
        assert f"invoice-pdf-{invoice.pk}" in queued, invoice.number
    # What the cluster runs for one of them stores its PDF.
    first = issued.order_by("pk").first()
    invoice_render_pdf(first.pk)
    first.refresh_from_db()
    assert invoice_pdf_file(first).read_bytes()[:4] == b"%PDF"
    numbers = sorted(issued.values_list("number", flat=True))
    assert numbers[0].startswith("NWC-")
    assert len(set(numbers)) == len(numbers)


def test_the_demo_credit_ledger_reconciles(demo):
    grants = CreditGrant.objects.filter(merchant=demo)
    assert grants.count() >= 3
    ledger = CreditLedgerEntry.objects.filter(merchant=demo)
    assert ledger.filter(kind="consumption").exists()
    assert ledger.filter(kind="expiry").exists()
    for grant in grants:
        entries = ledger.filter(grant=grant)

        def total(kind, entries=entries):
            return entries.filter(kind=kind).aggregate(s=Sum("amount"))["s"] or Decimal("0")

        balance = total("grant") + total("consumption") + total("expiry") + total("restoration")
        assert total("grant") == grant.amount
        assert balance == entries.aggregate(s=Sum("amount"))["s"]
        assert balance >= 0, grant
    # What the ledger says was consumed is exactly what the issued invoices applied.
    consumed = -(ledger.filter(kind="consumption").aggregate(s=Sum("amount"))["s"])
    applied = Invoice.objects.filter(merchant=demo, status__in=["finalized", "paid"]).aggregate(
        s=Sum("credits_applied")
    )["s"]
    assert consumed == applied > 0


def test_seed_demo_refuses_to_load_twice_for_the_same_login(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    taken = "taken@atlas.test"
    merchant_create(name="Existing", email=taken, password="whatever-password")
    merchants, users, customers = Merchant.objects.count(), get_user_model().objects.count(), Customer.objects.count()
    with pytest.raises(CommandError, match=f"An Atlas login '{taken}' already exists"):
        call_command("seed_demo", email=taken, scale=0.05)
    with pytest.raises(DemoExists):
        demo_seed(email=taken, password="x", scale=0.05)
    assert (Merchant.objects.count(), get_user_model().objects.count(), Customer.objects.count()) == (
        merchants,
        users,
        customers,
    )


def test_the_load_reports_each_stage_as_it_ends(demo):
    stages = [line.split("] ", 1)[1].split(":")[0] for line in PROGRESS if "] " in line]
    assert stages == ["catalog", "customers", "users", "usage events", "pre-aggregated usage state built", "billing",
                      "PDFs"]  # fmt: skip
    assert all(line.startswith("[") and "s] " in line for line in PROGRESS if "] " in line)
