"""Output shapes of invoices, their lines and the events behind a line."""

from decimal import Decimal

from django.urls import reverse
from rest_framework import serializers

from atlas.api.fields import MoneyField
from billing.invoices.models import Invoice, InvoiceLine


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
            "customer_name", "customer_address", "customer_tax_id", "pdf_url",
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


class LineEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    transaction_id = serializers.CharField()
    code = serializers.CharField()
    timestamp = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    properties = serializers.JSONField()
    subscription = serializers.CharField(source="subscription_external_id")
