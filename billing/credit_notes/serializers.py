"""Input and output shapes of credit notes."""

from django.urls import reverse
from rest_framework import serializers

from atlas.api.fields import MoneyField
from billing.credit_notes.models import CreditNote, CreditNoteLine
from billing.invoices.serializers import quantity_text
from catalog.serializers import AmountField, StrictCharField


class CreditNoteLineSerializer(serializers.ModelSerializer):
    amount = MoneyField(currency_source="credit_note.currency")

    class Meta:
        model = CreditNoteLine
        fields = ["id", "invoice_line", "description", "amount"]


class CreditNoteSerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number")
    customer = serializers.CharField(source="customer.external_id")
    lines = serializers.SerializerMethodField()
    subtotal = MoneyField()
    tax_rate = serializers.SerializerMethodField()
    tax = MoneyField()
    total = MoneyField()
    amount_applied = MoneyField()
    amount_credited = MoneyField()
    amount_refunded = MoneyField()
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = CreditNote
        fields = [
            "id", "number", "invoice", "invoice_number", "customer", "currency", "reason", "memo", "lines",
            "subtotal", "tax_rate", "tax", "total", "amount_applied", "amount_credited", "amount_refunded",
            "credit_grant", "issued_at", "pdf_url",
        ]  # fmt: skip

    def get_lines(self, note) -> list:
        lines = list(note.lines.all())
        for line in lines:
            line.credit_note = note
        return CreditNoteLineSerializer(lines, many=True).data

    def get_tax_rate(self, note) -> str:
        return quantity_text(note.tax_rate)

    def get_pdf_url(self, note) -> str:
        return reverse("credit-note-pdf", kwargs={"pk": note.pk})


class CreditNoteLineInputSerializer(serializers.Serializer):
    line = serializers.IntegerField(min_value=1)
    amount = AmountField()


class CreditNoteInputSerializer(serializers.Serializer):
    """What the caller asks for; the rules that need the invoice are checked by ``credit_note_issue``."""

    reason = serializers.ChoiceField(choices=CreditNote.Reason.choices)
    memo = StrictCharField(required=False, allow_blank=True, max_length=500, default="")
    method = serializers.ChoiceField(choices=CreditNote.Method.choices, required=False, default=None)
    lines = CreditNoteLineInputSerializer(many=True, allow_empty=False, max_length=1000)
