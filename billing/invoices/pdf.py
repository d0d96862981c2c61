"""Invoice PDFs: rendered with WeasyPrint from HTML templates, stored for the state they show, served inline.

A stored PDF is the invoice as it was when rendered; ``invoice_pdf_key`` names that state (status, what was paid,
credited, voided, and the layout). When the invoice changes, the key changes: the lifecycle queues a new rendering
after commit, and ``invoice_pdf_response`` never serves a file whose key is not the invoice's current one.
"""

import hashlib
import io
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.http import FileResponse, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone

from atlas.money import to_str
from billing.display import breakdown_text, date_text, money_text, percent_text, quantity_text, unit_price_text
from billing.invoices.models import Invoice
from billing.invoices.selectors import invoice_settlement

# Bump when the templates change what an issued invoice shows: every stored PDF then counts as stale and is
# rendered again (by the next download, or the next change of its invoice).
LAYOUT_VERSION = "3"  # 3: payments and refunds as rows, customer tax id, payment terms and instructions


def invoice_pdf_key(invoice: Invoice) -> str:
    """The state an issued invoice's PDF shows: what can change after issue (status, payments, credit notes, void)
    and the layout. Lines, totals and snapshots are frozen at finalization."""
    currency = invoice.currency
    state = [
        LAYOUT_VERSION, invoice.number, invoice.status, to_str(invoice.amount_due, currency),
        to_str(invoice.amount_paid, currency), to_str(invoice.credited, currency),
        *(value.isoformat() if value else "" for value in (invoice.paid_at, invoice.voided_at)),
        ",".join(f"{pk}:{refunded}" for pk, refunded in
                 invoice.payments.order_by("pk").values_list("pk", "amount_refunded")),
    ]  # fmt: skip
    return hashlib.sha256("|".join(state).encode()).hexdigest()[:16]


def merchant_details(invoice: Invoice) -> dict:
    """The issuer as the invoice snapshotted it (a draft: as the merchant is now)."""
    merchant = invoice.merchant
    return invoice.merchant_details or {
        "name": merchant.company_name or merchant.name,
        "address": merchant.company_address,
        "email": merchant.company_email,
        "tax_id": merchant.company_tax_id,
        "payment_instructions": merchant.payment_instructions,
    }


def invoice_pdf_context(invoice: Invoice) -> dict:
    """What the PDF and the invoice page show, formatted for people (``billing.display``); the API keeps exact
    values. ``settlement`` are the rows from the total to the amount due: credit notes, payments, a void."""
    currency, tz = invoice.currency, invoice.merchant.timezone
    details = merchant_details(invoice)
    lines = [
        {
            "line": line,
            "quantity": quantity_text(line.quantity),
            "amount": money_text(line.amount, currency),
            "unit_amount": unit_price_text(line.unit_amount, currency),
            "service": _service_period(line, tz),
            "breakdown": [breakdown_text(row, currency) for row in line.breakdown or [] if isinstance(row, dict)]
            if line.type != line.Type.BASE_FEE else [],
        }
        for line in invoice.lines.all()
    ]  # fmt: skip
    settlement = [
        {"row": row, "date": date_text(row.at, tz), "amount": money_text(row.amount, currency)}
        for row in invoice_settlement(invoice)
    ]
    same_day = invoice.period_end == invoice.period_start
    return {
        "invoice": invoice,
        "footer": f"{details['name']} · {invoice.number or 'DRAFT'}",
        "draft": invoice.status == Invoice.Status.DRAFT,
        "void": invoice.status == Invoice.Status.VOID,
        "merchant": details,
        "lines": lines,
        "dates": {
            "issued": date_text(invoice.issued_at, tz),
            "due": date_text(invoice.due_at, tz),
            "period_start": date_text(invoice.period_start, tz),
            "period_end": "" if same_day else date_text(invoice.period_end, tz),
            "voided": date_text(invoice.voided_at, tz),
            "paid": date_text(invoice.paid_at, tz),
        },
        "subtotal": money_text(invoice.subtotal, currency),
        "credits_applied": money_text(-invoice.credits_applied, currency),
        "tax": money_text(invoice.tax, currency),
        "tax_percent": percent_text(invoice.tax_rate),
        "total": money_text(invoice.total, currency),
        "settlement": settlement,
        "amount_due": money_text(invoice.amount_due, currency),
        "terms_days": (invoice.due_at - invoice.issued_at).days,
        "payment_instructions": details.get("payment_instructions", ""),
    }


def _service_period(line, tz: str) -> str:
    start = date_text(line.service_start, tz)
    return start if line.service_start == line.service_end else f"{start} – {date_text(line.service_end, tz)}"


def render_pdf(template: str, context: dict) -> bytes:
    from weasyprint import HTML  # imported here: loading Pango costs ~0.3 s and most processes never render

    return HTML(string=render_to_string(template, context), base_url=str(settings.BASE_DIR)).write_pdf()


def invoice_pdf_bytes(invoice: Invoice) -> bytes:
    return render_pdf("billing/invoice_pdf.html", invoice_pdf_context(invoice))


def pdf_path(invoice: Invoice, key: str) -> Path:
    """One file per state: a rendering of an older state finishing late never overwrites a newer one."""
    name = f"{invoice.number or invoice.pk}-{key}.pdf"
    return Path(settings.MEDIA_ROOT) / "invoices" / str(invoice.merchant_id) / name


def _keep(invoice: Invoice, key: str, data: bytes) -> Path | None:
    """Write ``data`` (the rendering of state ``key``) aside, rename it into place and make it the invoice's PDF,
    unless the invoice changed while it was rendered (then None: that change queued its own rendering).

    The swap is a short locked check, no rendering inside; a stored file also releases the rendering claim
    (``pdf_queued_at``), in the same transaction, so a change committing after it can claim the next one.
    """
    path = pdf_path(invoice, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
    relative = str(path.relative_to(Path(settings.MEDIA_ROOT)))
    with transaction.atomic():
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        fresh = invoice_pdf_key(current) == key
        if fresh:
            Invoice.objects.filter(pk=invoice.pk).update(
                pdf=relative, pdf_key=key, pdf_rendered_at=timezone.now(), pdf_queued_at=None
            )
    if not fresh:
        if current.pdf != relative:
            path.unlink(missing_ok=True)
        return None
    if current.pdf and current.pdf != relative:
        (Path(settings.MEDIA_ROOT) / current.pdf).unlink(missing_ok=True)  # the superseded state
    invoice.pdf, invoice.pdf_key = relative, key
    return path


def invoice_pdf_store(*, invoice: Invoice) -> Path | None:
    """The stored PDF of an issued invoice's current state: the file already there if it shows this state, else
    rendered and stored now. None for a draft (never stored) or an invoice that changed while it was rendered."""
    if invoice.status == Invoice.Status.DRAFT:
        return None
    stored = invoice_pdf_file(invoice)
    if stored is not None:
        Invoice.objects.filter(pk=invoice.pk, pdf=invoice.pdf).update(pdf_queued_at=None)
        return stored
    key = invoice_pdf_key(invoice)
    return _keep(invoice, key, invoice_pdf_bytes(invoice))


def invoice_pdf_file(invoice: Invoice) -> Path | None:
    """The stored PDF of an issued invoice, if it shows the invoice's current state and is still on disk."""
    if not invoice.pdf or invoice.pdf_key != invoice_pdf_key(invoice):
        return None
    path = Path(settings.MEDIA_ROOT) / invoice.pdf
    return path if path.exists() else None


def inline_pdf(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def invoice_pdf_response(invoice: Invoice) -> HttpResponse:
    """A draft rendered now; an issued invoice's stored file if it shows the current state, else rendered now (and
    stored): a download never shows a state the invoice has left."""
    filename = f"{invoice.number or f'draft-{invoice.pk}'}.pdf"
    if invoice.status == Invoice.Status.DRAFT:
        return inline_pdf(invoice_pdf_bytes(invoice), filename)
    path = invoice_pdf_file(invoice)
    if path is not None:
        try:
            return FileResponse(path.open("rb"), content_type="application/pdf", filename=filename)
        except FileNotFoundError:  # superseded by a newer rendering since the check: render this state now
            pass
    data = invoice_pdf_bytes(invoice)
    _keep(invoice, invoice_pdf_key(invoice), data)
    return FileResponse(io.BytesIO(data), content_type="application/pdf", filename=filename)
