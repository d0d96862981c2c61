"""An invoice's period is the service period it bills (SPEC §11.1); its key is the issue instant."""

import importlib
import io

import pytest
from django.apps import apps
from pypdf import PdfReader

from billing.invoices.pdf import invoice_pdf_bytes
from billing.models import Invoice
from billing.runs.engine import billing_run
from tests.billing.test_invoices_helpers import D, at, customer, event, metric, plan, subscribe

pytestmark = pytest.mark.django_db


def periods(sub) -> list[tuple]:
    return [(i.issued_at, i.period_start, i.period_end, i.total)
            for i in Invoice.objects.filter(subscription=sub).order_by("issued_at")]  # fmt: skip


@pytest.fixture
def merchant(tenant):
    return tenant.merchant


def test_an_in_arrears_invoice_shows_the_month_it_bills(merchant):
    calls = metric(merchant, "calls")
    version = plan(merchant, "metered", timing="in_arrears", base_fee="20.00",
                   charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.25"}}])  # fmt: skip
    cust = customer(merchant)
    sub = subscribe(merchant, cust, version, at(2026, 1, 1))
    event(cust, "calls", at(2026, 2, 9))
    billing_run(as_of=at(2026, 3, 1, 6))
    assert periods(sub) == [
        (at(2026, 2, 1), at(2026, 1, 1), at(2026, 2, 1), D("20.00")),
        (at(2026, 3, 1), at(2026, 2, 1), at(2026, 3, 1), D("20.25")),
    ]
    march = Invoice.objects.get(subscription=sub, issued_at=at(2026, 3, 1))
    text = PdfReader(io.BytesIO(invoice_pdf_bytes(march))).pages[0].extract_text()
    assert "Period: Feb 1, 2026 – Mar 1, 2026" in text


def test_an_in_advance_invoice_shows_the_month_it_bills_ahead(merchant):
    version = plan(merchant, "ahead", base_fee="30.00")
    sub = subscribe(merchant, customer(merchant), version, at(2026, 1, 1))
    billing_run(as_of=at(2026, 2, 1, 6))
    assert periods(sub) == [
        (at(2026, 1, 1), at(2026, 1, 1), at(2026, 2, 1), D("30.00")),
        (at(2026, 2, 1), at(2026, 2, 1), at(2026, 3, 1), D("30.00")),
    ]


def test_an_invoice_with_usage_in_arrears_and_a_fee_in_advance_shows_the_period_that_ended(merchant):
    calls = metric(merchant, "calls")
    version = plan(merchant, "mixed", base_fee="30.00",
                   charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "1"}}])  # fmt: skip
    cust = customer(merchant)
    sub = subscribe(merchant, cust, version, at(2026, 1, 1))
    event(cust, "calls", at(2026, 1, 5))
    billing_run(as_of=at(2026, 2, 1, 6))
    assert periods(sub) == [
        (at(2026, 1, 1), at(2026, 1, 1), at(2026, 2, 1), D("30.00")),  # the opening fee, ahead
        (at(2026, 2, 1), at(2026, 1, 1), at(2026, 2, 1), D("31.00")),  # January's usage and February's fee
    ]


def test_the_migration_turns_issue_instants_into_service_periods(merchant):
    calls = metric(merchant, "calls")
    version = plan(merchant, "metered", timing="in_arrears", base_fee="20.00",
                   charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.25"}}])  # fmt: skip
    sub = subscribe(merchant, customer(merchant), version, at(2026, 1, 1))
    billing_run(as_of=at(2026, 2, 1, 6))
    Invoice.objects.filter(subscription=sub).update(period_start=at(2026, 2, 1), period_end=at(2026, 3, 1))  # as before
    migration = importlib.import_module("billing.migrations.0007_invoice_issue_key")
    migration.service_periods(apps, None)
    assert periods(sub) == [(at(2026, 2, 1), at(2026, 1, 1), at(2026, 2, 1), D("20.00"))]
