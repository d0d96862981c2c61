"""Input and output shapes of payments and refunds."""

from rest_framework import serializers

from atlas.api.fields import MoneyField
from billing.payments.models import Payment, Refund
from catalog.serializers import AmountField, StrictCharField


class RefundSerializer(serializers.ModelSerializer):
    amount = MoneyField()
    recorded_by = serializers.CharField(source="actor_label")

    class Meta:
        model = Refund
        fields = ["id", "payment", "amount", "currency", "refunded_at", "reason", "recorded_at", "recorded_by"]


class PaymentSerializer(serializers.ModelSerializer):
    """A payment, its refunds, and the state of its invoice now (``invoice_status``, ``invoice_amount_paid``,
    ``invoice_amount_due``)."""

    invoice_number = serializers.CharField(source="invoice.number")
    customer = serializers.CharField(source="customer.external_id")
    amount = MoneyField()
    amount_applied = MoneyField()
    amount_credited = MoneyField()
    amount_refunded = MoneyField()
    recorded_by = serializers.CharField(source="actor_label")
    refunds = RefundSerializer(many=True, read_only=True)
    invoice_status = serializers.CharField(source="invoice.status")
    invoice_amount_paid = MoneyField(source="invoice.amount_paid")
    invoice_amount_due = MoneyField(source="invoice.amount_due")

    class Meta:
        model = Payment
        fields = [
            "id", "invoice", "invoice_number", "customer", "currency", "amount", "amount_applied", "amount_credited",
            "amount_refunded", "credit_grant", "method", "reference", "source", "paid_at", "recorded_at",
            "recorded_by", "refunds", "invoice_status", "invoice_amount_paid", "invoice_amount_due",
        ]  # fmt: skip


class PaymentInputSerializer(serializers.Serializer):
    """What the caller sends; the rules that need the invoice are checked by ``payment_record``."""

    amount = AmountField()
    method = serializers.ChoiceField(choices=Payment.Method.choices)
    paid_at = serializers.DateTimeField(required=False, default=None)
    reference = StrictCharField(required=False, allow_blank=True, max_length=255, default="")
    currency = StrictCharField(required=False, max_length=3, default=None, help_text="Must be the invoice's.")


class RefundInputSerializer(serializers.Serializer):
    amount = AmountField()
    refunded_at = serializers.DateTimeField(required=False, default=None)
    reason = StrictCharField(required=False, allow_blank=True, max_length=500, default="")


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="Bank statement CSV: date, amount, currency, reference.")
    dry_run = serializers.BooleanField(required=False, default=False)


class ImportRowSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["matched", "unmatched", "duplicate", "ignored"])
    date = serializers.DateField()
    amount = serializers.CharField()
    currency = serializers.CharField()
    reference = serializers.CharField()
    invoice = serializers.IntegerField(allow_null=True)
    invoice_number = serializers.CharField(allow_null=True)
    matched_by = serializers.CharField(allow_null=True)
    amount_applied = serializers.CharField(allow_null=True)
    amount_credited = serializers.CharField(allow_null=True)
    amount_due_after = serializers.CharField(allow_null=True)
    payment = serializers.IntegerField(allow_null=True)
    note = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    matched = serializers.IntegerField()
    unmatched = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    ignored = serializers.IntegerField()
    rows = ImportRowSerializer(many=True)
