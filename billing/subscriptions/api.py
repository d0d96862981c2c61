"""REST routes for subscriptions: create, import from CSV, list, show, change plan, cancel (SPEC §8, §11.1)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from atlas.api.routers import Router
from atlas.api.viewsets import MerchantViewSet
from billing.subscriptions import csv_import, selectors, services
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import CALENDAR_RANGE_ERROR, in_calendar_range
from billing.subscriptions.serializers import (
    CancelSerializer,
    ChangePlanSerializer,
    SubscriptionImportResultSerializer,
    SubscriptionImportSerializer,
    SubscriptionInputSerializer,
    SubscriptionOutputSerializer,
)
from customers.api import import_response


def _instant(request, name: str):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        instant = serializers.DateTimeField().to_internal_value(raw)
    except serializers.ValidationError as exc:
        raise ValidationError({name: exc.detail})
    if not in_calendar_range(instant):
        raise ValidationError({name: CALENDAR_RANGE_ERROR})
    return instant


class SubscriptionViewSet(MerchantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    queryset = Subscription.objects.select_related("customer", "plan_version__plan", "previous")
    serializer_class = SubscriptionOutputSerializer
    lookup_field = "external_id"

    def get_base_queryset(self):
        queryset = self.queryset.all()
        if self.action != "list":
            return queryset
        params = self.request.query_params
        if params.get("customer"):
            queryset = queryset.filter(customer__external_id=params["customer"])
        if params.get("plan"):
            queryset = queryset.filter(plan_version__plan__code=params["plan"])
        active_at = _instant(self.request, "active_at")
        if active_at is not None:
            queryset = queryset.filter(selectors.active_filter(active_at))
        return queryset

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["at"] = _instant(self.request, "at")
        return context

    @extend_schema(
        parameters=[
            OpenApiParameter("customer", str),
            OpenApiParameter("plan", str),
            OpenApiParameter("active_at", str),
            OpenApiParameter("at", str),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[OpenApiParameter("at", str, description="Status and period at this instant.")])
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    def _show(self, subscription, code=status.HTTP_200_OK):
        subscription = self.queryset.get(pk=subscription.pk)
        return Response(self.get_serializer(subscription).data, status=code)

    @extend_schema(request=SubscriptionInputSerializer, responses={201: SubscriptionOutputSerializer})
    def create(self, request):
        serializer = SubscriptionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = services.subscription_create(merchant=self.merchant, **serializer.validated_data)
        return self._show(subscription, status.HTTP_201_CREATED)

    @extend_schema(
        request={"multipart/form-data": SubscriptionImportSerializer}, responses=SubscriptionImportResultSerializer
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_csv(self, request):
        """Create subscriptions from CSV (taking over a book). All rows valid or nothing written; ``dry_run=true``
        previews; a row for an existing subscription with the same values is ``unchanged``."""
        serializer = SubscriptionImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = csv_import.subscriptions_import(
            merchant=self.merchant,
            data=serializer.validated_data["file"].read(),
            dry_run=serializer.validated_data["dry_run"],
        )
        return import_response(report)

    @extend_schema(request=ChangePlanSerializer, responses={201: SubscriptionOutputSerializer})
    @action(detail=True, methods=["post"])
    def change_plan(self, request, external_id=None):
        """Returns the new subscription (201); the old one ends where it starts."""
        subscription = self.get_object()
        serializer = ChangePlanSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        new = services.subscription_change_plan(subscription=subscription, **serializer.validated_data)
        return self._show(new, status.HTTP_201_CREATED)

    @extend_schema(request=CancelSerializer, responses=SubscriptionOutputSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, external_id=None):
        subscription = self.get_object()
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = services.subscription_cancel(subscription=subscription, **serializer.validated_data)
        return self._show(subscription)


router = Router()


router.register("subscriptions", SubscriptionViewSet, basename="subscription")


urlpatterns = router.urls
