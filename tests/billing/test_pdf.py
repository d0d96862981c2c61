"""Invoice PDFs: rendered by WeasyPrint in the django-q2 task after finalization, stored, served; drafts on demand."""

import io

import pytest
from pypdf import PdfReader

from billing.invoices.tasks import invoice_render_pdf
from billing.models import Invoice
from billing.runs.engine import billing_run
from billing.templatetags.documents import css_string
from tests.billing.test_invoices_helpers import at, customer, event, metric, plan, subscribe

pytestmark = pytest.mark.django_db


def text_of(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def invoice(tenant, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    m = tenant.merchant
    m.company_address = "1 Billing Way\nSpringfield"
    m.save()
    calls = metric(m, "calls")
    tiers = [{"up_to": "2", "unit_amount": "1.00", "flat_amount": "0"},
             {"up_to": None, "unit_amount": "0.50", "flat_amount": "0"}]  # fmt: skip
    version = plan(m, "pro", base_fee="49.00", timing="in_arrears",
                   charges=[{"metric": calls, "model": "tiered", "params": {"tiers": tiers}}])  # fmt: skip
    cust = customer(m, "globex", name="Globex Corporation", address_line1="42 Main Street", city="Shelbyville")
    sub = subscribe(m, cust, version, at(2026, 1, 1))
    for day in (2, 3, 4, 5):
        event(cust, "calls", at(2026, 1, day))
    billing_run(as_of=at(2026, 2, 1))
    return Invoice.objects.get(subscription=sub)


def test_the_task_renders_and_stores_the_pdf_with_number_lines_and_total(invoice, tmp_path):
    path = invoice_render_pdf(invoice.pk)
    invoice.refresh_from_db()
    assert invoice.pdf and invoice.pdf_rendered_at is not None and path.startswith(str(tmp_path))
    with open(path, "rb") as handle:
        text = text_of(handle.read())
    for expected in ("INV-2026-000001", "Globex Corporation", "42 Main Street", "Acme Cloud", "1 Billing Way",
                     "Pro base fee", "49.00", "Calls", "3.00", "52.00", "Amount due"):  # fmt: skip
        assert expected in text, expected
    assert "0 – 2" in text  # the tier breakdown
    assert "Acme Cloud · INV-2026-000001 · page 1 of 1" in text  # the footer, as written (no u002D escapes)


@pytest.mark.parametrize(
    "text, css",
    [("NWC-2026-000185", "NWC-2026-000185"), ('Say "hi"', "Say \\22 hi\\22 "), ("a\\b", "a\\5c b"),
     ("</style>", "\\3c /style\\3e ")],
)
def test_css_string_escapes_what_a_css_string_cannot_hold(text, css):
    assert css_string(text) == css


def test_the_api_serves_the_stored_pdf(tenant, invoice):
    invoice_render_pdf(invoice.pk)
    response = tenant.api.get(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "INV-2026-000001" in text_of(b"".join(response.streaming_content))


def test_the_api_renders_a_finalized_pdf_the_task_has_not_reached_yet(tenant, invoice):
    response = tenant.api.get(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert "52.00" in text_of(b"".join(response.streaming_content))
    invoice.refresh_from_db()
    assert invoice.pdf


def test_a_draft_renders_on_demand_marked_draft_and_is_not_stored(tenant, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    m = tenant.merchant
    m.invoice_grace_hours = 24
    m.save()
    version = plan(m, "flat", base_fee="10.00")
    sub = subscribe(m, customer(m), version, at(2026, 3, 1))
    billing_run(as_of=at(2026, 3, 1))
    draft = Invoice.objects.get(subscription=sub)
    response = tenant.api.get(f"/api/v1/invoices/{draft.pk}/pdf")
    text = text_of(response.content)
    assert "DRAFT" in text and "10.00" in text
    draft.refresh_from_db()
    assert draft.pdf == "" and not list(tmp_path.iterdir())


def test_the_run_queues_each_pdf_once_through_django_q(invoice):
    from django_q.models import OrmQ

    assert OrmQ.objects.count() == 1  # queued after the finalizing transaction committed… by the run
    billing_run(as_of=at(2026, 2, 1))
    assert OrmQ.objects.count() == 1  # claimed: a second run does not queue it again
