"""GET/PATCH /api/v1/merchant: the caller's own merchant settings."""

from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from atlas.models import DUNNING_MAX_STEPS, Merchant, validate_dunning_days, validate_timezone
from atlas.services import merchant_update


class MerchantSerializer(serializers.ModelSerializer):
    billing_day = serializers.IntegerField(min_value=1, max_value=28)
    default_tax_rate = serializers.DecimalField(
        max_digits=7, decimal_places=6, min_value=Decimal("0"), max_value=Decimal("1")
    )
    timezone = serializers.CharField(validators=[validate_timezone])
    dunning_days = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=365), max_length=DUNNING_MAX_STEPS, required=False,
        help_text="Days past due on which unpaid invoices are e-mailed a reminder, e.g. [3, 7, 14].",
    )  # fmt: skip
    payment_instructions = serializers.CharField(max_length=2000, allow_blank=True, required=False)

    def validate_dunning_days(self, value: list[int]) -> list[int]:
        try:
            validate_dunning_days(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value

    class Meta:
        model = Merchant
        fields = [
            "name",
            "slug",
            "billing_day",
            "invoice_grace_hours",
            "invoice_prefix",
            "default_tax_rate",
            "timezone",
            "locale",
            "payment_terms_days",
            "dunning_days",
            "company_name",
            "company_address",
            "company_email",
            "company_tax_id",
            "payment_instructions",
            "created_at",
        ]
        read_only_fields = ["slug", "created_at"]


class MerchantView(APIView):
    """The merchant is the API key's: there is no id in the path to get wrong."""

    @extend_schema(responses=MerchantSerializer)
    def get(self, request):
        return Response(MerchantSerializer(request.auth.merchant).data)

    @extend_schema(request=MerchantSerializer, responses=MerchantSerializer)
    def patch(self, request):
        serializer = MerchantSerializer(request.auth.merchant, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        merchant = merchant_update(merchant=request.auth.merchant, **serializer.validated_data)
        return Response(MerchantSerializer(merchant).data)
