"""Input and output shapes for invoices, credits and billing runs. Money leaves as strings (SPEC §2)."""

from decimal import Decimal

from django.urls import reverse
from rest_framework import serializers

from atlas.api.fields import MoneyField
from atlas.money import is_currency, parse_decimal, round_line, to_str
from billing.models import CreditGrant, CreditLedgerEntry, CreditNote, CreditNoteLine, Invoice, InvoiceLine
from catalog.serializers import AmountField, StrictCharField


def quantity_text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


class InvoiceLineSerializer(serializers.ModelSerializer):
    metric = serializers.SerializerMethodField()
    quantity = serializers.SerializerMethodField()
    amount = MoneyField(currency_source="invoice.currency")
    price = serializers.JSONField()

    class Meta:
        model = InvoiceLine
        fields = [
            "id", "type", "description", "metric", "group", "quantity", "amount", "breakdown", "events_count",
            "service_start", "service_end", "charge", "price", "window_start", "window_end", "received_after",
            "received_before", "adjusted_invoice",
        ]  # fmt: skip

    def get_metric(self, line) -> str | None:
        return line.metric_code or None

    def get_quantity(self, line) -> str:
        return quantity_text(line.quantity)



class InvoiceSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id")
    subscription = serializers.CharField(source="subscription.external_id")
    lines = serializers.SerializerMethodField()
    subtotal = MoneyField()
    credits_applied = MoneyField()
    tax_rate = serializers.SerializerMethodField()
    tax = MoneyField()
    total = MoneyField()
    amount_paid = MoneyField()
    amount_due = MoneyField()
    credited = MoneyField()
    pdf_url = serializers.SerializerMethodField()
    number = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "id", "number", "customer", "subscription", "status", "currency", "period_start", "period_end",
            "issued_at", "due_at", "finalized_at", "paid_at", "voided_at", "grace_until", "is_final", "lines",
            "subtotal", "credits_applied", "tax_rate", "tax", "total", "amount_paid", "amount_due", "credited",
            "customer_name", "customer_address", "pdf_url",
        ]  # fmt: skip

    def get_number(self, invoice) -> str | None:
        return invoice.number or None

    def get_lines(self, invoice) -> list:
        lines = list(invoice.lines.all())
        for line in lines:
            line.invoice = invoice
        return InvoiceLineSerializer(lines, many=True).data

    def get_tax_rate(self, invoice) -> str:
        return quantity_text(invoice.tax_rate)

    def get_pdf_url(self, invoice) -> str:
        return reverse("invoice-pdf", kwargs={"pk": invoice.pk})


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


class LineEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    transaction_id = serializers.CharField()
    code = serializers.CharField()
    timestamp = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    properties = serializers.JSONField()
    subscription = serializers.CharField(source="subscription_external_id")


class CreditGrantInputSerializer(serializers.Serializer):
    amount = serializers.CharField()
    currency = serializers.CharField(required=False)
    priority = serializers.IntegerField(required=False, min_value=0, max_value=32767, default=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    granted_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")

    def validate_currency(self, value: str) -> str:
        value = value.upper()
        if not is_currency(value):
            raise serializers.ValidationError(f"{value!r} is not an ISO 4217 currency code.")
        return value

    def validate(self, data):
        currency = data.get("currency") or self.context["customer"].currency
        data["currency"] = currency
        try:
            amount = parse_decimal(data["amount"])
        except ValueError as exc:
            raise serializers.ValidationError({"amount": str(exc)})
        if amount <= 0:
            raise serializers.ValidationError({"amount": "must be greater than 0"})
        if round_line(amount, currency) != amount:
            raise serializers.ValidationError({"amount": f"has more decimals than {currency} allows"})
        if abs(amount) >= Decimal("1e15"):
            raise serializers.ValidationError({"amount": "is too large"})
        data["amount"] = amount
        granted_at = data.get("granted_at")
        if data.get("expires_at") and granted_at and data["expires_at"] <= granted_at:
            raise serializers.ValidationError({"expires_at": "must be after granted_at"})
        return data


class CreditGrantSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id")
    amount = MoneyField()
    remaining = serializers.SerializerMethodField()
    available = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()

    class Meta:
        model = CreditGrant
        fields = [
            "id", "customer", "amount", "currency", "priority", "granted_at", "expires_at", "reason", "remaining",
            "available", "status", "expired_at", "created_at",
        ]  # fmt: skip

    def _state(self, grant):
        return self.context.get("states", {}).get(grant.pk)

    def get_remaining(self, grant) -> str:
        state = self._state(grant)
        return to_str(state.remaining if state else grant.amount, grant.currency)

    def get_available(self, grant) -> str:
        state = self._state(grant)
        return to_str(state.available if state else grant.amount, grant.currency)

    def get_status(self, grant) -> str:
        if grant.expired_at is not None:
            return "expired"
        state = self._state(grant)
        return "depleted" if state is not None and state.remaining <= 0 else "active"


class LedgerEntrySerializer(serializers.ModelSerializer):
    amount = MoneyField(currency_source="grant.currency")
    currency = serializers.CharField(source="grant.currency")
    invoice = serializers.SerializerMethodField()

    class Meta:
        model = CreditLedgerEntry
        fields = ["id", "kind", "grant", "amount", "currency", "invoice", "at"]

    def get_invoice(self, entry) -> int | None:
        return entry.invoice_id


class BillingRunInputSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()


class BillingRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    as_of = serializers.DateTimeField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()
    stats = serializers.JSONField()
