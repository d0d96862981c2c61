"""Credit note PDFs, from the same templates and renderer as invoices."""

from django.http import HttpResponse

from atlas.money import to_str
from billing.credit_notes.models import CreditNote
from billing.invoices.pdf import inline_pdf, merchant_details, pdf_quantity, render_pdf


def credit_note_pdf_context(note: CreditNote) -> dict:
    invoice, currency = note.invoice, note.currency
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
        "lines": [(line, to_str(line.amount, currency)) for line in note.lines.all()],
        "subtotal": to_str(note.subtotal, currency),
        "tax": to_str(note.tax, currency),
        "tax_percent": pdf_quantity(note.tax_rate * 100),
        "total": to_str(note.total, currency),
        "outcome": outcome,
    }


def credit_note_pdf_bytes(note: CreditNote) -> bytes:
    return render_pdf("billing/credit_note_pdf.html", credit_note_pdf_context(note))


def credit_note_pdf_response(note: CreditNote) -> HttpResponse:
    return inline_pdf(credit_note_pdf_bytes(note), f"{note.number}.pdf")
