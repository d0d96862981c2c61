"""python manage.py run_billing: one progress line per merchant as it finishes, then the totals."""

from io import StringIO

import pytest
from django.core.management import call_command

from billing.models import BillingRun, Invoice
from tests.billing.test_invoices_helpers import at, customer, plan, subscribe

pytestmark = pytest.mark.django_db


def test_it_prints_how_many_invoices_each_merchant_got_then_the_totals(tenant, other_tenant):
    acme, globex = tenant.merchant, other_tenant.merchant
    plan(acme, "pro", base_fee="20.00")
    plan(globex, "pro", base_fee="5.00")
    subscribe(acme, customer(acme, "a1"), acme.plans.get().versions.get(), at(2026, 1, 1))
    subscribe(acme, customer(acme, "a2"), acme.plans.get().versions.get(), at(2026, 1, 1))
    subscribe(globex, customer(globex, "g1"), globex.plans.get().versions.get(), at(2026, 2, 1))

    out = StringIO()
    call_command("run_billing", "--as-of", "2026-02-01", stdout=out)

    assert out.getvalue().splitlines() == [
        f"[1/2] {acme.slug}: 4 invoices issued, 4 finalized",  # Jan 1 and Feb 1, twice
        f"[2/2] {globex.slug}: 1 invoices issued, 1 finalized",
        "Billing run as of 2026-02-01T00:00:00+00:00: credits_expired 0, invoices_finalized 5, invoices_issued 5, "
        "nothing_to_bill 0, pdfs_queued 5",
    ]
    assert sorted(BillingRun.objects.values_list("merchant__slug", "status")) == [
        (acme.slug, "done"), (globex.slug, "done"),
    ]  # fmt: skip
    assert Invoice.objects.count() == 5


def test_a_second_run_for_the_same_date_reports_nothing_issued(tenant):
    plan(tenant.merchant, "pro", base_fee="20.00")
    subscribe(tenant.merchant, customer(tenant.merchant), tenant.merchant.plans.get().versions.get(), at(2026, 1, 1))
    call_command("run_billing", "--as-of", "2026-01-02", stdout=StringIO())
    out = StringIO()
    call_command("run_billing", "--as-of", "2026-01-02", "--merchant", tenant.merchant.slug, stdout=out)
    assert out.getvalue().splitlines()[0] == f"[1/1] {tenant.merchant.slug}: 0 invoices issued, 0 finalized"
    assert Invoice.objects.count() == 1
