"""Invoice PDFs: rendered with WeasyPrint from HTML templates, stored once finalized, served inline."""

import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone

from atlas.money import to_str
from billing.invoices.models import Invoice


def pdf_quantity(value) -> str:
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def _breakdown_rows(line) -> list[str]:
    rows = []
    for row in line.breakdown or []:
        if not isinstance(row, dict):
            continue
        parts = []
        if "from" in row or "to" in row:
            parts.append(f"{row.get('from', '0')} – {row.get('to') or '∞'}")
        for key in ("units", "unit_amount", "flat_amount", "amount"):
            if row.get(key) not in (None, ""):
                parts.append(f"{key.replace('_', ' ')} {row[key]}")
        if not parts:
            parts = [f"{key.replace('_', ' ')} {value}" for key, value in row.items() if not isinstance(value, dict)]
        rows.append(", ".join(parts))
    return rows


def merchant_details(invoice: Invoice) -> dict:
    """The issuer as the invoice snapshotted it (a draft: as the merchant is now)."""
    merchant = invoice.merchant
    return invoice.merchant_details or {
        "name": merchant.company_name or merchant.name,
        "address": merchant.company_address,
        "email": merchant.company_email,
        "tax_id": merchant.company_tax_id,
    }


def invoice_pdf_context(invoice: Invoice) -> dict:
    currency = invoice.currency
    details = merchant_details(invoice)
    lines = [
        {
            "line": line,
            "quantity": pdf_quantity(line.quantity),
            "amount": to_str(line.amount, currency),
            "unit_amount": pdf_quantity(line.unit_amount) if line.unit_amount is not None else "",
            "breakdown": _breakdown_rows(line) if line.type != line.Type.BASE_FEE else [],
        }
        for line in invoice.lines.all()
    ]
    return {
        "invoice": invoice,
        "footer": f"{details['name']} · {invoice.number or 'DRAFT'}",
        "draft": invoice.status == Invoice.Status.DRAFT,
        "void": invoice.status == Invoice.Status.VOID,
        "merchant": details,
        "lines": lines,
        "subtotal": to_str(invoice.subtotal, currency),
        "credits_applied": to_str(invoice.credits_applied, currency),
        "tax": to_str(invoice.tax, currency),
        "tax_percent": pdf_quantity(invoice.tax_rate * 100),
        "total": to_str(invoice.total, currency),
        "amount_due": to_str(invoice.amount_due, currency),
    }


def render_pdf(template: str, context: dict) -> bytes:
    from weasyprint import HTML  # imported here: loading Pango costs ~0.3 s and most processes never render

    return HTML(string=render_to_string(template, context), base_url=str(settings.BASE_DIR)).write_pdf()


def invoice_pdf_bytes(invoice: Invoice) -> bytes:
    return render_pdf("billing/invoice_pdf.html", invoice_pdf_context(invoice))


def pdf_path(invoice: Invoice) -> Path:
    return Path(settings.MEDIA_ROOT) / "invoices" / str(invoice.merchant_id) / f"{invoice.number or invoice.pk}.pdf"


def invoice_pdf_store(*, invoice: Invoice) -> Path | None:
    """Render and store an issued invoice's PDF (atomically: written aside, then renamed). Drafts are not stored."""
    if invoice.status == Invoice.Status.DRAFT:
        return None
    path = pdf_path(invoice)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = invoice_pdf_bytes(invoice)
    fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
    relative = str(path.relative_to(Path(settings.MEDIA_ROOT)))
    Invoice.objects.filter(pk=invoice.pk).update(pdf=relative, pdf_rendered_at=timezone.now())
    invoice.pdf = relative
    return path


def invoice_pdf_file(invoice: Invoice) -> Path | None:
    """The stored PDF of an issued invoice, if it has been rendered and is still on disk."""
    if not invoice.pdf:
        return None
    path = Path(settings.MEDIA_ROOT) / invoice.pdf
    return path if path.exists() else None


def inline_pdf(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def invoice_pdf_response(invoice: Invoice) -> HttpResponse:
    """A draft rendered now; an issued invoice's stored file (rendered and stored first if it is not there)."""
    filename = f"{invoice.number or f'draft-{invoice.pk}'}.pdf"
    if invoice.status == Invoice.Status.DRAFT:
        return inline_pdf(invoice_pdf_bytes(invoice), filename)
    path = invoice_pdf_file(invoice) or invoice_pdf_store(invoice=invoice)
    return FileResponse(path.open("rb"), content_type="application/pdf", filename=filename)
