"""django-q2 tasks of invoices: render and store an invoice's PDF.

The lifecycle services queue them after commit; nothing here imports the engine that finalizes invoices.
"""

from django_q.tasks import async_task

from atlas.locales import use_locale
from billing.invoices.models import Invoice
from billing.invoices.pdf import invoice_pdf_store

ATTEMPTS = 5  # renderings in one task when the invoice keeps changing underneath (each change is a real event)


def invoice_render_pdf(invoice_id: int) -> str:
    """Store the PDF of the invoice's current state. The claim (``pdf_queued_at``) is held until a rendering is
    stored for the state the invoice is in: a change committing meanwhile could not claim, so this task renders
    again instead."""
    for _ in range(ATTEMPTS):
        invoice = Invoice.objects.select_related("merchant", "subscription").get(pk=invoice_id)
        if invoice.status == Invoice.Status.DRAFT:
            return ""
        with use_locale(invoice.merchant.locale):  # outside a request: the merchant's formats (atlas/locales.py)
            path = invoice_pdf_store(invoice=invoice)
        if path is not None:
            return str(path)
    return ""  # still changing: the claim expires and the next download renders it


def queue_invoice_pdf(invoice_id: int) -> None:
    """Queue the PDF of an invoice (call after commit: the worker must see the finalized row)."""
    async_task(
        "billing.invoices.tasks.invoice_render_pdf", invoice_id, task_name=f"invoice-pdf-{invoice_id}", group="pdf"
    )
