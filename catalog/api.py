"""REST routes of the catalog: /metrics, /features, /plans (SPEC §8). Docs: docs/catalog.md."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from atlas.api.routers import Router
from atlas.api.viewsets import MerchantViewSet
from catalog import selectors, services
from catalog.models import Feature, Metric, Plan
from catalog.serializers import FeatureSerializer, MetricSerializer, PlanInputSerializer, PlanSerializer


def _validate(serializer) -> dict:
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class _CatalogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, MerchantViewSet):
    """Create, list, retrieve and PATCH by code; no PUT (every update is partial)."""

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "merchant": self.merchant}


class MetricViewSet(_CatalogViewSet):
    queryset = Metric.objects.all()
    serializer_class = MetricSerializer
    lookup_field = "code"

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        _validate(serializer)
        metric = services.metric_create(merchant=self.merchant, **serializer.validated_data)
        return Response(MetricSerializer(metric).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, code=None):
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        _validate(serializer)
        metric = services.metric_update(metric=serializer.instance, **serializer.validated_data)
        return Response(MetricSerializer(metric).data)


class FeatureViewSet(_CatalogViewSet):
    queryset = Feature.objects.select_related("metric")
    serializer_class = FeatureSerializer
    lookup_field = "key"

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        _validate(serializer)
        feature = services.feature_create(merchant=self.merchant, **serializer.validated_data)
        return Response(FeatureSerializer(feature).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, key=None):
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        _validate(serializer)
        feature = services.feature_update(feature=serializer.instance, **serializer.validated_data)
        return Response(FeatureSerializer(feature).data)


class _VersionQuery(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, required=False)


class PlanViewSet(MerchantViewSet):
    """Plans and their versions. A plan is shown as one version's content plus a summary of all versions."""

    queryset = Plan.objects.all()
    serializer_class = PlanSerializer
    lookup_field = "code"

    def get_base_queryset(self):
        return selectors.plans_with_versions(Plan.objects.all())

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "merchant": self.merchant}

    def _show(self, plan: Plan, version: int | None = None, code=status.HTTP_200_OK) -> Response:
        plan = self.get_base_queryset().get(pk=plan.pk)  # fresh, with its content prefetched
        return Response(PlanSerializer(selectors.plan_version_get(plan=plan, version=version)).data, status=code)

    @extend_schema(parameters=[OpenApiParameter("archived", OpenApiTypes.BOOL, description="only (un)archived plans")])
    def list(self, request):
        queryset = self.get_queryset()
        archived = request.query_params.get("archived")
        if archived in ("true", "false"):
            queryset = queryset.filter(archived_at__isnull=archived == "false")
        page = self.paginate_queryset(queryset)
        versions = [selectors.plan_version_latest(plan=plan) for plan in page]
        return self.get_paginated_response(PlanSerializer(versions, many=True).data)

    @extend_schema(request=PlanInputSerializer, responses={201: PlanSerializer})
    def create(self, request):
        serializer = PlanInputSerializer(data=request.data, context=self.get_serializer_context())
        _validate(serializer)
        plan_fields, content = serializer.split()
        plan = services.plan_create(merchant=self.merchant, **plan_fields, content=content)
        return self._show(plan, code=status.HTTP_201_CREATED)

    @extend_schema(parameters=[OpenApiParameter("version", int, description="a version number; the latest by default")])
    def retrieve(self, request, code=None):
        query = _VersionQuery(data=request.query_params)
        _validate(query)
        plan = self.get_object()
        return Response(PlanSerializer(selectors.plan_version_get(plan=plan, **query.validated_data)).data)

    @extend_schema(request=PlanInputSerializer, responses=PlanSerializer)
    def partial_update(self, request, code=None):
        plan = self.get_object()
        serializer = PlanInputSerializer(plan, data=request.data, context=self.get_serializer_context())
        _validate(serializer)
        plan_fields, changes = serializer.split()
        plan_fields.pop("code", None)
        plan = services.plan_update(plan=plan, **plan_fields, changes=changes)
        return self._show(plan)

    @extend_schema(request=None, responses=PlanSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, code=None):
        version = services.plan_publish(plan=self.get_object())
        return self._show(version.plan, version.version)

    @extend_schema(request=None, responses={201: PlanSerializer})
    @action(detail=True, methods=["post"])
    def versions(self, request, code=None):
        version = services.plan_version_create(plan=self.get_object())
        return self._show(version.plan, version.version, code=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PlanSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request, code=None):
        return self._show(services.plan_archive(plan=self.get_object()))

    @extend_schema(request=None, responses=PlanSerializer)
    @action(detail=True, methods=["post"])
    def unarchive(self, request, code=None):
        return self._show(services.plan_unarchive(plan=self.get_object()))


router = Router()
router.register("metrics", MetricViewSet, basename="metric")
router.register("features", FeatureViewSet, basename="feature")
router.register("plans", PlanViewSet, basename="plan")

urlpatterns = router.urls
