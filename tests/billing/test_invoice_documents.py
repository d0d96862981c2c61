"""The invoice's PDF follows the invoice (SPEC §11.1): rendered again after void, payment and credit notes, never
served stale, with the rows that take the total to the amount due. Real PDFs, read back with pypdf."""

import io
import pydoc
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from django_q.models import OrmQ
from pypdf import PdfReader

from billing.credit_notes.services import credit_note_issue
from billing.invoices.pdf import _keep, invoice_pdf_bytes, invoice_pdf_key
from billing.invoices.services import invoice_void
from billing.invoices.tasks import invoice_render_pdf
from billing.models import Invoice
from billing.payments.services import invoice_mark_paid
from billing.runs.engine import billing_run
from tests.billing.test_invoices_helpers import D, at, customer, event, metric, plan, subscribe

pytestmark = pytest.mark.django_db


def text_of(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def run_queued_pdf_tasks() -> list[int]:
    """What a django-q2 worker does with the queued PDF tasks: run each, in order; the invoice ids rendered."""
    done = []
    for queued in OrmQ.objects.order_by("id"):
        task = queued.task
        assert task["func"] == "billing.invoices.tasks.invoice_render_pdf"
        pydoc.locate(task["func"])(*task["args"])
        done.append(task["args"][0])
        queued.delete()
    return done


def download(tenant, invoice) -> str:
    response = tenant.api.get(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    return text_of(b"".join(response.streaming_content))


def _media(invoice) -> Path:
    return Path(settings.MEDIA_ROOT) / invoice.pdf


def stored_text(invoice) -> str:
    """The text of the file stored as the invoice's PDF now."""
    invoice.refresh_from_db()
    return text_of(_media(invoice).read_bytes())


@pytest.fixture
def invoice(tenant, settings, tmp_path, django_capture_on_commit_callbacks):
    """1,000.00 base fee + 137.68 GB of storage at 0.50 (68.84), taxed 19 %: total 1,271.92, billed Feb 1 2026;
    its PDF rendered by the queued task, as a worker would."""
    settings.MEDIA_ROOT = tmp_path
    m = tenant.merchant
    storage = metric(m, "storage", aggregation="sum", field="gb")
    version = plan(m, "pro", base_fee="1000.00", timing="in_arrears",
                   charges=[{"metric": storage, "model": "per_unit", "params": {"unit_amount": "0.50"}}])  # fmt: skip
    cust = customer(m, "globex", name="Globex Corporation", tax_rate=D("0.19"))
    sub = subscribe(m, cust, version, at(2026, 1, 1))
    event(cust, "storage", at(2026, 1, 3), gb="100.5")
    event(cust, "storage", at(2026, 1, 9), gb="37.18")
    with django_capture_on_commit_callbacks(execute=True):
        billing_run(as_of=at(2026, 2, 1))
    invoice = Invoice.objects.get(subscription=sub)
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.amount_due) == (
        D("1068.84"), D("203.08"), D("1271.92"), D("1271.92"))  # fmt: skip
    assert run_queued_pdf_tasks() == [invoice.pk]
    return invoice


def lines_of_pdf(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_the_first_pdf_shows_amounts_and_quantities_for_people(invoice):
    text = stored_text(invoice)
    lines = lines_of_pdf(text)
    assert "Status: Finalized" in text
    assert "Pro base fee" in text and "1,000.00" in text
    assert "137.68 68.84" in text  # quantity and amount of the storage line: no 137.6800000000
    assert "137.68 × 0.50 = 68.84" in text  # its breakdown, no "units 137.6800000000, amount 68.8400000000"
    assert "Subtotal 1,068.84" in lines and "Tax (19%) 203.08" in lines and "Total 1,271.92" in lines
    assert "Amount due 1,271.92 USD" in lines
    assert "Issued: Feb 1, 2026 · Due: Mar 3, 2026" in lines
    assert not re.search(r"\.\d{5,}", text)  # no raw ten-decimal value anywhere


def test_after_void_the_pdf_says_void_and_nothing_due(tenant, invoice, django_capture_on_commit_callbacks):
    invoice.refresh_from_db()
    first = invoice.pdf
    with django_capture_on_commit_callbacks(execute=True):
        invoice_void(invoice=invoice, at=at(2026, 2, 3, 10), actor="test")
    invoice.refresh_from_db()
    assert invoice.pdf_queued_at is not None  # claimed after commit…
    assert run_queued_pdf_tasks() == [invoice.pk]  # …and rendered by the same task
    invoice.refresh_from_db()
    assert invoice.pdf != first and not (Path(settings.MEDIA_ROOT) / first).exists()  # the superseded file is gone
    assert invoice.pdf_queued_at is None  # the claim is released with the stored file
    text = download(tenant, invoice)
    lines = lines_of_pdf(text)
    assert "VOID · voided on Feb 3, 2026 · nothing is due" in lines
    assert "Invoice · VOID" in lines and "Status: Void" in lines
    assert "Total 1,271.92" in lines and "Void Feb 3, 2026 -1,271.92" in lines
    assert "Amount due 0.00 USD" in text  # the VOID stamp across the page is read after it
    assert "Finalized" not in text and "1,271.92 USD" not in text


def test_payments_and_credit_notes_are_rows_from_total_to_amount_due(tenant, invoice,
                                                                    django_capture_on_commit_callbacks):  # fmt: skip
    base_fee, storage = (line.pk for line in invoice.lines.order_by("position", "pk"))
    # A credit note on the unpaid invoice: 100.00 + 19 % = 119.00 off the amount due (1,271.92 → 1,152.92).
    with django_capture_on_commit_callbacks(execute=True):
        credit_note_issue(invoice=invoice, lines=[(base_fee, D("100.00"))], reason="billing_error",
                          at=at(2026, 2, 2, 9), actor="test")  # fmt: skip
    assert run_queued_pdf_tasks() == [invoice.pk]
    lines = lines_of_pdf(download(tenant, invoice))
    assert "Status: Finalized" in " ".join(lines)
    assert lines[lines.index("Total 1,271.92") + 1:] [:2] == [
        "Credit note INV-CN-2026-000001 Feb 2, 2026 -119.00", "Amount due 1,152.92 USD"]  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_paid(invoice=invoice, at=at(2026, 2, 5, 16), actor="test")
    assert run_queued_pdf_tasks() == [invoice.pk]
    lines = lines_of_pdf(download(tenant, invoice))
    assert "Status: Paid on Feb 5, 2026" in " ".join(lines)
    assert lines[lines.index("Total 1,271.92") + 1:][:3] == [
        "Credit note INV-CN-2026-000001 Feb 2, 2026 -119.00", "Paid Feb 5, 2026 -1,152.92",
        "Amount due 0.00 USD"]  # fmt: skip

    # On the paid invoice a note of 10.00 + 19 % = 11.90 comes off what was paid and goes back as customer credit.
    with django_capture_on_commit_callbacks(execute=True):
        credit_note_issue(invoice=invoice, lines=[(storage, D("10.00"))], reason="product_unsatisfactory",
                          at=at(2026, 2, 9, 12), actor="test")  # fmt: skip
    assert run_queued_pdf_tasks() == [invoice.pk]
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.credited, invoice.amount_due) == (D("1152.92"), D("130.90"), D("0.00"))
    lines = lines_of_pdf(download(tenant, invoice))
    assert lines[lines.index("Total 1,271.92") + 1:][:5] == [
        "Credit note INV-CN-2026-000001 Feb 2, 2026 -119.00", "Paid Feb 5, 2026 -1,152.92",
        "Credit note INV-CN-2026-000002 Feb 9, 2026 -11.90",
        "Added to your credit balance Feb 9, 2026 11.90", "Amount due 0.00 USD"]  # fmt: skip
    # 1,271.92 − 119.00 − 1,152.92 − 11.90 + 11.90 = 0.00
    assert D("1271.92") - D("119.00") - D("1152.92") - D("11.90") + D("11.90") == invoice.amount_due


def test_a_stored_pdf_older_than_the_invoice_is_rendered_again_on_download(tenant, invoice):
    stale = invoice.pdf
    invoice_mark_paid(invoice=invoice, at=at(2026, 2, 5, 16), actor="test")  # its task has not run (no commit)
    assert not OrmQ.objects.exists()
    lines = lines_of_pdf(download(tenant, invoice))
    assert "Paid Feb 5, 2026 -1,271.92" in lines and "Amount due 0.00 USD" in lines
    invoice.refresh_from_db()
    assert invoice.pdf != stale and invoice.pdf_key == invoice_pdf_key(invoice)
    assert "Paid Feb 5, 2026 -1,271.92" in lines_of_pdf(stored_text(invoice))  # and kept for the next download


def test_the_cockpit_download_is_never_stale_either(client, tenant, invoice):
    from tests.cockpit.pagedata import login

    invoice_void(invoice=invoice, at=at(2026, 2, 3, 10), actor="test")
    login(client, tenant)
    response = client.get(f"/invoices/{invoice.pk}/pdf/")
    assert response.status_code == 200
    assert "Void Feb 3, 2026 -1,271.92" in lines_of_pdf(text_of(b"".join(response.streaming_content)))


def test_a_change_while_a_rendering_is_claimed_queues_nothing_more_and_the_task_renders_the_latest_state(
    tenant, invoice, django_capture_on_commit_callbacks
):
    Invoice.objects.filter(pk=invoice.pk).update(pdf_queued_at=timezone.now())  # a rendering in flight
    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_paid(invoice=invoice, at=at(2026, 2, 5, 16), actor="test")
    assert not OrmQ.objects.exists()  # the claim is held: no second task
    invoice_render_pdf(invoice.pk)  # the task in flight stores the state it finds
    assert "Paid Feb 5, 2026 -1,271.92" in lines_of_pdf(stored_text(invoice))
    assert invoice.pdf_queued_at is None


def test_a_rendering_of_a_state_the_invoice_has_left_is_not_stored(invoice):
    before = Invoice.objects.get(pk=invoice.pk)  # what a worker read just before the payment committed
    data = invoice_pdf_bytes(before)
    invoice_mark_paid(invoice=invoice, at=at(2026, 2, 5, 16), actor="test")
    assert _keep(before, invoice_pdf_key(before), data) is None
    invoice.refresh_from_db()
    assert invoice.pdf == before.pdf and invoice.pdf_key != invoice_pdf_key(invoice)  # stale: re-rendered on demand
    assert sorted(path.name for path in _media(invoice).parent.iterdir()) == [Path(before.pdf).name]


def test_the_invoice_page_shows_void_and_the_rows_to_the_amount_due(client, tenant, invoice):
    from tests.cockpit.pagedata import login

    base_fee = invoice.lines.order_by("position", "pk").first().pk
    credit_note_issue(invoice=invoice, lines=[(base_fee, D("100.00"))], reason="billing_error",
                      at=at(2026, 2, 2, 9), actor="test")  # fmt: skip
    invoice_mark_paid(invoice=invoice, at=at(2026, 2, 5, 16), actor="test")
    login(client, tenant)
    content = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert ('<tr class="settlement payment" data-testid="settlement-payment"><td>Paid · Feb 5, 2026</td>'
            '<td class="num">-1,152.92</td></tr>') in content  # fmt: skip
    assert "<td>Credit note INV-CN-2026-000001 · Feb 2, 2026</td><td class=\"num\">-119.00</td>" in content
    assert 'data-testid="amount-due">0.00 USD' in content
    assert "-1122.9400" not in content and "1152.9200" not in content


def test_a_voided_invoice_page_says_void_prominently(client, tenant, invoice):
    from tests.cockpit.pagedata import login

    invoice_void(invoice=invoice, at=at(2026, 2, 3, 10), actor="test")
    login(client, tenant)
    content = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert ('<div class="void-banner" data-testid="void-banner"><strong>VOID</strong> · voided on Feb 3, 2026 · '
            "nothing is due</div>") in content  # fmt: skip
    assert '<td>Void · Feb 3, 2026</td><td class="num">-1,271.92</td>' in content
