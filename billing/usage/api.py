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

from atlas.api.pagination import page_of
from atlas.api.viewsets import MerchantAPIView
from atlas.money import to_str
from billing.subscriptions.periods import CALENDAR_RANGE_ERROR, in_calendar_range
from billing.usage.entitlements import Entitlement, EntitlementQueryError, entitlements_check
from billing.usage.selectors import SubscriptionUsage, usage_check
from catalog.models import Feature
from customers.models import Customer
from metering.ingestion.validation import parse_timestamp

AT_PARAMETER = OpenApiParameter(
    "at", OpenApiTypes.STR, description="The instant to answer for (ISO 8601 or epoch seconds); default now"
)
USER_PARAMETER = OpenApiParameter(
    "user",
    OpenApiTypes.STR,
    description="A team member's id (the events' `user` property): user-scoped features answer for that user's "
    "own events. Required for one user-scoped feature; refused for a feature counted per customer.",
)
GROUP_PARAMETER = OpenApiParameter(
    "group.<property>",
    OpenApiTypes.STR,
    description="One usage bucket, e.g. `?group.project=p1`: answers for that bucket alone (the limit applies to "
    "each bucket). Name every property the feature's metric groups by; one feature only.",
)
GROUP_PREFIX = "group."


def _quantity(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def usage_json(customer_external_id: str, usage: list[SubscriptionUsage]) -> dict:
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
        "customer": customer_external_id,
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
        "scope": entitlement.scope,
        "bucket": entitlement.bucket,
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
    scope = serializers.ChoiceField(choices=["customer", "user"], help_text="whose usage a limit counts")
    bucket = serializers.DictField(
        child=serializers.CharField(), allow_null=True,
        help_text='what was counted: {"user": id} and/or the usage bucket\'s properties; null for all of it',
    )


class _CustomerView(MerchantAPIView):
    """A customer's usage or entitlements. These are the hot read paths: ``billing.usage.selectors`` and
    ``billing.usage.entitlements`` load the customer and everything else but the usage in one prepared query,
    filtered by the API key's merchant (an unknown or another merchant's customer is a 404)."""

    def at(self):
        value = self.request.query_params.get("at")
        if not value:
            return None
        try:
            instant = parse_timestamp(value)
        except ValueError as exc:
            raise ValidationError({"at": str(exc)})
        if not in_calendar_range(instant):
            raise ValidationError({"at": CALENDAR_RANGE_ERROR})
        return instant


class CustomerUsageView(_CustomerView):
    @extend_schema(parameters=[AT_PARAMETER], responses=OpenApiTypes.OBJECT)
    def get(self, request, external_id):
        try:
            usage = usage_check(merchant_id=self.merchant.pk, customer_external_id=external_id, at=self.at())
        except Customer.DoesNotExist:
            raise NotFound("No customer with this external_id.")
        return Response(usage_json(external_id, usage))


class _EntitlementsView(_CustomerView):
    def check(self, external_id: str, key: str | None = None) -> list[Entitlement]:
        params = self.request.query_params
        user = params.get("user")
        group = {name[len(GROUP_PREFIX) :]: params.get(name) for name in params if name.startswith(GROUP_PREFIX)}
        at = self.at()
        try:
            return entitlements_check(merchant=self.merchant, customer_external_id=external_id, key=key, at=at,
                                      user=user, group=group)  # fmt: skip
        except Customer.DoesNotExist:
            raise NotFound("No customer with this external_id.")
        except Feature.DoesNotExist:
            raise NotFound("No feature with this key.")
        except EntitlementQueryError as exc:
            raise ValidationError({exc.field: exc.message})


class CustomerEntitlementsView(_EntitlementsView):
    @extend_schema(
        operation_id="customers_entitlements_list",
        parameters=[AT_PARAMETER, USER_PARAMETER],
        responses=page_of(EntitlementSerializer(many=True), "EntitlementList"),
    )
    def get(self, request, external_id):
        return Response({"results": [entitlement_json(item) for item in self.check(external_id)], "next": None})


class CustomerEntitlementView(_EntitlementsView):
    @extend_schema(parameters=[AT_PARAMETER, USER_PARAMETER, GROUP_PARAMETER], responses=EntitlementSerializer)
    def get(self, request, external_id, key):
        return Response(entitlement_json(self.check(external_id, key)[0]))


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
