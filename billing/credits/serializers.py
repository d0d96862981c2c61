"""Input and output shapes of credit grants and the credit ledger."""


from decimal import Decimal

from django.utils import timezone
from rest_framework import serializers

from atlas.api.fields import MoneyField
from atlas.money import is_currency, parse_decimal, round_line, to_str
from billing.credits.models import CreditGrant, CreditLedgerEntry
from catalog.serializers import AmountField


class GrantAmountField(AmountField):
    """Money in, greater than 0: a decimal string; floats and out-of-range values refused before any arithmetic."""

    def to_internal_value(self, data) -> Decimal:
        try:
            value = parse_decimal(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))
        if value <= 0:
            raise serializers.ValidationError("must be greater than 0")
        return super().to_internal_value(data)


class CreditGrantInputSerializer(serializers.Serializer):
    amount = GrantAmountField()
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
        amount = data["amount"]
        if round_line(amount, currency) != amount:
            raise serializers.ValidationError({"amount": f"has more decimals than {currency} allows"})
        expires_at = data.get("expires_at")
        if expires_at is not None:
            granted_at = data.get("granted_at")
            if expires_at <= (granted_at or timezone.now()):
                after = "granted_at" if granted_at else "now (the grant's granted_at)"
                raise serializers.ValidationError({"expires_at": f"must be after {after}"})
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
