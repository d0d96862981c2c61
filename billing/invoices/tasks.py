"""django-q2 tasks of invoices: render and store an invoice's PDF.

The lifecycle services queue them after commit; nothing here imports the engine that finalizes invoices.
"""

from django_q.tasks import async_task

from billing.invoices.models import Invoice
from billing.invoices.pdf import invoice_pdf_store


def invoice_render_pdf(invoice_id: int) -> str:
    invoice = Invoice.objects.select_related("merchant").get(pk=invoice_id)
    path = invoice_pdf_store(invoice=invoice)
    return str(path) if path else ""


def queue_invoice_pdf(invoice_id: int) -> None:
    """Queue the PDF of an invoice (call after commit: the worker must see the finalized row)."""
    async_task(
        "billing.invoices.tasks.invoice_render_pdf", invoice_id, task_name=f"invoice-pdf-{invoice_id}", group="pdf"
    )
