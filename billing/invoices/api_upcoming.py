"""GET /customers/{external_id}/upcoming_invoice: what the next billing date will bill (SPEC §11.6).

The answer has the invoice API's field names and formats (``billing.invoices.serializers``); it is a forecast,
so it has no ``id``, ``number`` or status. Computed by ``billing.invoices.upcoming`` without writing anything.
"""

from django.urls import re_path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from atlas.api.fields import MoneyField
from atlas.api.viewsets import MerchantAPIView
from billing.invoices.serializers import InvoiceLineSerializer, quantity_text
from billing.invoices.upcoming import UpcomingInvoice, upcoming_invoices
from billing.subscriptions.periods import CALENDAR_RANGE_ERROR, in_calendar_range
from customers.models import Customer
from metering.ingestion.validation import parse_timestamp


class UpcomingInvoiceLineSerializer(InvoiceLineSerializer):
    """An invoice line as ``GET /invoices/{id}`` shows it, less the ``id`` an unsaved line does not have."""

    class Meta(InvoiceLineSerializer.Meta):
        fields = [name for name in InvoiceLineSerializer.Meta.fields if name != "id"]


class UpcomingInvoiceSerializer(serializers.Serializer):
    customer = serializers.CharField(source="invoice.customer.external_id")
    subscription = serializers.CharField(source="invoice.subscription.external_id")
    currency = serializers.CharField(source="invoice.currency")
    period_start = serializers.DateTimeField(source="invoice.period_start")
    period_end = serializers.DateTimeField(source="invoice.period_end")
    issued_at = serializers.DateTimeField(source="invoice.issued_at", help_text="The billing date that issues it.")
    due_at = serializers.DateTimeField(source="invoice.due_at")
    is_final = serializers.BooleanField(source="invoice.is_final")
    lines = serializers.SerializerMethodField()
    subtotal = MoneyField(currency_source="invoice.currency", source="invoice.subtotal")
    discount_total = MoneyField(currency_source="invoice.currency", help_text="Always 0 until coupons exist.")
    credits_applied = MoneyField(currency_source="invoice.currency", source="invoice.credits_applied")
    tax_rate = serializers.SerializerMethodField()
    tax = MoneyField(currency_source="invoice.currency", source="invoice.tax")
    total = MoneyField(currency_source="invoice.currency", source="invoice.total")
    amount_due = MoneyField(currency_source="invoice.currency", source="invoice.amount_due")

    @extend_schema_field(UpcomingInvoiceLineSerializer(many=True))
    def get_lines(self, item: UpcomingInvoice) -> list:
        return UpcomingInvoiceLineSerializer(item.lines, many=True).data

    def get_tax_rate(self, item: UpcomingInvoice) -> str:
        return quantity_text(item.invoice.tax_rate)


AT_PARAMETER = OpenApiParameter(
    "at", OpenApiTypes.STR,
    description="Forecast as of this instant (ISO 8601 or epoch seconds): usage received by then; default now.",
)  # fmt: skip
SUBSCRIPTION_PARAMETER = OpenApiParameter(
    "subscription", OpenApiTypes.STR,
    description="The subscription (external id) whose next invoice to show; default the one billed first.",
)  # fmt: skip


class CustomerUpcomingInvoiceView(MerchantAPIView):
    """The invoice the customer's next billing date would issue: base fee, usage so far, one-time fees, credits
    and tax. 404 when the customer has no subscription with anything to bill (docs/billing.md)."""

    def _at(self):
        value = self.request.query_params.get("at")
        if not value:
            return timezone.now()
        try:
            instant = parse_timestamp(value)
        except ValueError as exc:
            raise ValidationError({"at": str(exc)})
        if not in_calendar_range(instant):
            raise ValidationError({"at": CALENDAR_RANGE_ERROR})
        return instant

    @extend_schema(
        operation_id="customers_upcoming_invoice",
        parameters=[AT_PARAMETER, SUBSCRIPTION_PARAMETER],
        responses=UpcomingInvoiceSerializer,
    )
    def get(self, request, external_id):
        customer = (
            Customer.objects.filter(merchant=self.merchant, external_id=external_id).select_related("merchant").first()
        )
        if customer is None:
            raise NotFound("No customer with this external_id.")
        at = self._at()
        wanted = request.query_params.get("subscription", "")
        upcoming = upcoming_invoices(customer=customer, at=at)
        if wanted:
            upcoming = [item for item in upcoming if item.subscription.external_id == wanted]
            if not upcoming:
                raise NotFound(f"Customer {external_id!r} has no subscription {wanted!r} with an invoice to come.")
        if not upcoming:
            raise NotFound(f"Customer {external_id!r} has no upcoming invoice: no subscription has anything to bill.")
        return Response(UpcomingInvoiceSerializer(upcoming[0]).data)


urlpatterns = [
    re_path(
        r"^customers/(?P<external_id>[^/]+)/upcoming_invoice/?$",
        CustomerUpcomingInvoiceView.as_view(),
        name="customer-upcoming-invoice",
    ),
]
