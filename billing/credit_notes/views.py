"""Cockpit pages of credit notes: the form on the invoice page, the PDF."""

from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.generic import View

from atlas.money import parse_decimal
from atlas.tenancy import MerchantPageMixin
from billing.credit_notes.models import CreditNote
from billing.credit_notes.pdf import credit_note_pdf_response
from billing.credit_notes.services import credit_note_issue
from billing.display import money_text
from billing.invoices.models import Invoice
from billing.invoices.services import IllegalTransition


class InvoiceCreditNoteView(MerchantPageMixin, View):
    """POST only: issue a credit note from the invoice page's form (one amount field per line, blank = 0)."""

    def post(self, request, pk):
        invoice = get_object_or_404(self.scoped(Invoice).prefetch_related("lines"), pk=pk)
        described: list[str] = []
        credits: list[tuple[int, Decimal]] = []
        try:
            for line in invoice.lines.all():
                raw = request.POST.get(f"amount_{line.pk}", "").strip()
                if not raw:
                    continue
                described.append(line.description)
                try:
                    credits.append((line.pk, parse_decimal(raw)))
                except ValueError as exc:
                    raise ValidationError({f"lines[{len(credits)}].amount": str(exc)}) from None
            note = credit_note_issue(
                invoice=invoice, lines=credits, reason=request.POST.get("reason", ""),
                memo=request.POST.get("memo", "").strip(), method=request.POST.get("method") or None,
                at=timezone.now(), actor=f"{request.user.get_username()} (cockpit)",
            )  # fmt: skip
        except IllegalTransition as exc:
            messages.error(request, f"Nothing changed: {exc}.")
        except ValidationError as exc:
            messages.error(request, "Nothing changed: " + "; ".join(
                f"{_field_label(field, described)} {message}" for field, errors in exc.message_dict.items()
                for message in errors))  # fmt: skip
        else:
            messages.success(request, f"Credit note {note.number} issued: {money_text(note.total, note.currency)} "
                                      f"{note.currency}.")  # fmt: skip
        return redirect("cockpit:invoice", pk=pk)


def _field_label(field: str, described: list[str]) -> str:
    """``lines[1].amount`` as the form shows it: the line's description."""
    if field.startswith("lines[") and "]" in field:
        index = int(field[6 : field.index("]")])
        return f"{described[index]}:" if index < len(described) else "Amounts:"
    return {"lines": "Amounts:", "reason": "Reason:", "method": "Refund method:", "memo": "Memo:"}.get(field, field)


class CreditNotePdfView(MerchantPageMixin, View):
    def get(self, request, pk, note_pk):
        note = get_object_or_404(
            self.scoped(CreditNote).select_related("invoice__merchant").prefetch_related("lines"),
            pk=note_pk, invoice_id=pk,
        )
        return credit_note_pdf_response(note)
