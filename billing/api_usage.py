"""GET /customers/{external_id}/usage, /entitlements and /entitlements/{key} (SPEC §8, docs/metering.md).

The response shapes are documented in docs/metering.md and kept stable: the
cockpit renders the same answers from the same selectors.
"""

from decimal import Decimal

from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from atlas.api.viewsets import MerchantAPIView
from atlas.money import to_str
from billing.entitlements import Entitlement, customer_entitlement, customer_entitlements
from billing.usage import SubscriptionUsage, customer_usage
from catalog.models import Feature
from customers.models import Customer
from metering.services import parse_timestamp

AT_PARAMETER = OpenApiParameter(
    "at", OpenApiTypes.STR, description="The instant to answer for (ISO 8601 or epoch seconds); default now"
)


def _quantity(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def usage_json(customer: Customer, usage: list[SubscriptionUsage]) -> dict:
    def charge_json(entry, currency):
        metric = entry.charge.metric
        return {
            "metric": metric.code,
            "name": entry.charge.description or metric.name,
            "aggregation": metric.aggregation,
            "model": entry.charge.model,
            "quantity": _quantity(entry.quantity),
            "events_count": entry.events_count,
            "amount": to_str(entry.amount, currency),
            "groups": [
                {
                    "group": group.group,
                    "quantity": _quantity(group.quantity),
                    "events_count": group.events_count,
                    "amount": to_str(group.amount, currency),
                }
                for group in entry.groups
            ],
        }

    return {
        "customer": customer.external_id,
        "subscriptions": [
            {
                "subscription": item.subscription.external_id,
                "plan": item.subscription.plan_version.plan.code,
                "plan_version": item.subscription.plan_version.version,
                "currency": item.currency,
                "period_start": item.period_start.isoformat().replace("+00:00", "Z"),
                "period_end": item.period_end.isoformat().replace("+00:00", "Z"),
                "billable_from": item.billable_from.isoformat().replace("+00:00", "Z"),
                "amount": to_str(item.amount, item.currency),
                "charges": [charge_json(entry, item.currency) for entry in item.charges],
            }
            for item in usage
        ],
    }


def entitlement_json(entitlement: Entitlement) -> dict:
    return {
        "key": entitlement.key,
        "kind": entitlement.kind,
        "allowed": entitlement.allowed,
        "limit": entitlement.limit,
        "usage": _quantity(entitlement.usage),
        "remaining": _quantity(entitlement.remaining),
        "value": entitlement.value,
    }


class EntitlementSerializer(serializers.Serializer):
    """Documents the entitlement shape (built by ``entitlement_json``)."""

    key = serializers.CharField()
    kind = serializers.ChoiceField(choices=["boolean", "limit", "value"])
    allowed = serializers.BooleanField()
    limit = serializers.IntegerField(allow_null=True, help_text="-1 unlimited, 0 no access")
    usage = serializers.CharField(allow_null=True)
    remaining = serializers.CharField(allow_null=True)
    value = serializers.CharField(allow_null=True)


class _CustomerView(MerchantAPIView):
    queryset = Customer.objects.all()

    def customer(self, external_id: str) -> Customer:
        customer = next(iter(self.get_queryset().filter(external_id=external_id)[:1]), None)
        if customer is None:
            raise NotFound("No customer with this external_id.")
        customer.merchant = self.merchant  # the API key's, already loaded
        return customer

    def at(self):
        value = self.request.query_params.get("at")
        if not value:
            return None
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise ValidationError({"at": str(exc)})


class CustomerUsageView(_CustomerView):
    @extend_schema(parameters=[AT_PARAMETER], responses=OpenApiTypes.OBJECT)
    def get(self, request, external_id):
        customer = self.customer(external_id)
        return Response(usage_json(customer, customer_usage(customer=customer, at=self.at())))


class CustomerEntitlementsView(_CustomerView):
    @extend_schema(parameters=[AT_PARAMETER], responses=EntitlementSerializer(many=True))
    def get(self, request, external_id):
        customer = self.customer(external_id)
        entitlements = customer_entitlements(customer=customer, at=self.at())
        return Response({"results": [entitlement_json(item) for item in entitlements], "next": None})


class CustomerEntitlementView(_CustomerView):
    @extend_schema(parameters=[AT_PARAMETER], responses=EntitlementSerializer)
    def get(self, request, external_id, key):
        customer = self.customer(external_id)
        try:
            entitlement = customer_entitlement(customer=customer, key=key, at=self.at())
        except Feature.DoesNotExist:
            raise NotFound("No feature with this key.")
        return Response(entitlement_json(entitlement))


urlpatterns = [
    re_path(r"^customers/(?P<external_id>[^/]+)/usage/?$", CustomerUsageView.as_view(), name="customer-usage"),
    re_path(
        r"^customers/(?P<external_id>[^/]+)/entitlements/?$",
        CustomerEntitlementsView.as_view(),
        name="customer-entitlements",
    ),
    re_path(
        r"^customers/(?P<external_id>[^/]+)/entitlements/(?P<key>[^/]+)/?$",
        CustomerEntitlementView.as_view(),
        name="customer-entitlement",
    ),
]
