"""Credit note PDFs, from the same templates and renderer as invoices."""

from django.http import HttpResponse

from billing.credit_notes.models import CreditNote
from billing.display import date_text, money_text, percent_text
from billing.invoices.pdf import inline_pdf, merchant_details, render_pdf


def credit_note_pdf_context(note: CreditNote) -> dict:
    invoice, currency, tz = note.invoice, note.currency, note.invoice.merchant.timezone
    details = merchant_details(invoice)
    if note.amount_applied:
        outcome = f"Taken off the amount due of invoice {invoice.number}."
    elif note.amount_credited:
        outcome = "Added to your credit balance with us: it pays your next invoices."
    else:
        outcome = "Refunded to you."
    return {
        "note": note,
        "invoice": invoice,
        "footer": f"{details['name']} · {note.number}",
        "merchant": details,
        "reason": note.get_reason_display(),
        "issued": date_text(note.issued_at, tz),
        "invoice_issued": date_text(invoice.issued_at, tz),
        "lines": [(line, money_text(line.amount, currency)) for line in note.lines.all()],
        "subtotal": money_text(note.subtotal, currency),
        "tax": money_text(note.tax, currency),
        "tax_percent": percent_text(note.tax_rate),
        "total": money_text(note.total, currency),
        "outcome": outcome,
    }


def credit_note_pdf_bytes(note: CreditNote) -> bytes:
    return render_pdf("billing/credit_note_pdf.html", credit_note_pdf_context(note))


def credit_note_pdf_response(note: CreditNote) -> HttpResponse:
    return inline_pdf(credit_note_pdf_bytes(note), f"{note.number}.pdf")
