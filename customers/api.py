"""REST routes for customers, the CSV import and billing rules.

- ``POST/GET /customers``, ``GET/PATCH/DELETE /customers/{external_id}``
- ``POST /customers/import`` (multipart ``file``, ``dry_run``)
- ``POST/GET /billing_rules``, ``GET/PATCH/DELETE /billing_rules/{id}``
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from atlas.api.exceptions import error_body
from atlas.api.routers import Router
from atlas.api.viewsets import MerchantViewSet
from customers import csv_import, selectors, services, validators
from customers.models import BillingRule, Customer
from customers.serializers import (
    BillingRuleInputSerializer,
    BillingRuleOutputSerializer,
    CustomerImportSerializer,
    CustomerInputSerializer,
    CustomerOutputSerializer,
    ImportResultSerializer,
)

MAX_REPORTED = 1000


def _flag(request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return validators.boolean(raw)
    except ValueError as exc:
        raise ValidationError({name: str(exc)})


class CustomerViewSet(MerchantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin):
    """No PUT: partial updates only."""

    queryset = Customer.objects.select_related("parent")
    lookup_field = "external_id"
    serializer_class = CustomerOutputSerializer

    def get_base_queryset(self):
        queryset = self.queryset.all()
        if self.action != "list":
            return queryset
        return selectors.customers_filter(
            queryset,
            search=self.request.query_params.get("search", "").strip(),
            is_test=_flag(self.request, "is_test"),
            include_archived=bool(_flag(self.request, "include_archived")),
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="Matches name, external_id or email (contains)."),
            OpenApiParameter("is_test", bool),
            OpenApiParameter("include_archived", bool),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=CustomerInputSerializer, responses={201: CustomerOutputSerializer})
    def create(self, request, *args, **kwargs):
        serializer = CustomerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_create(merchant=self.merchant, **serializer.validated_data)
        return Response(CustomerOutputSerializer(customer).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CustomerInputSerializer, responses=CustomerOutputSerializer)
    def partial_update(self, request, *args, **kwargs):
        customer = self.get_object()
        serializer = CustomerInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_update(customer=customer, **serializer.validated_data)
        return Response(CustomerOutputSerializer(customer).data)

    @extend_schema(responses={200: CustomerOutputSerializer, 204: None})
    def destroy(self, request, *args, **kwargs):
        """Delete a customer without history (204), archive one with history (200, ``archived_at`` set)."""
        archived = services.customer_delete(customer=self.get_object())
        if archived is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(CustomerOutputSerializer(archived).data)

    @extend_schema(request={"multipart/form-data": CustomerImportSerializer}, responses=ImportResultSerializer)
    @action(detail=False, methods=["post"], url_path="import")
    def import_csv(self, request):
        """Upsert customers from CSV. All rows valid or nothing written; ``dry_run=true`` previews."""
        serializer = CustomerImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        report = csv_import.customers_import(
            merchant=self.merchant, data=upload.read(), dry_run=serializer.validated_data["dry_run"]
        )
        return import_response(report)


def import_response(report: csv_import.ImportReport) -> Response:
    """The answer to a CSV import (customers or subscriptions): the counts and, on a dry run, the changes; or
    every row error in the error shape."""
    if not report.ok:
        return import_error_response(report)
    body = {"dry_run": report.dry_run, "rows": report.rows, **report.counts()}
    if report.dry_run:
        body["changes"] = report.changes[:MAX_REPORTED]
        body["changes_truncated"] = len(report.changes) > MAX_REPORTED
    return Response(body)


def import_error_response(report: csv_import.ImportReport) -> Response:
    errors = report.errors[:MAX_REPORTED]
    fields: dict[str, str] = {}
    for error in errors:
        path = error.field_path
        fields[path] = f"{fields[path]} {error.message}" if path in fields else error.message
    first = errors[0]
    where = "file" if first.row is None else f"row {first.row}" + (f", column {first.column}" if first.column else "")
    more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
    body = error_body(400, f"Nothing was imported: {where}: {first.message}{more}", fields)
    body["error"]["errors"] = [{"row": e.row, "column": e.column, "message": e.message} for e in errors]
    body["error"]["error_count"] = len(report.errors)
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


class BillingRuleViewSet(MerchantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin):
    queryset = BillingRule.objects.all()
    lookup_value_regex = "[0-9]{1,18}"  # anything else is a 404 by URL, never an integer overflow
    serializer_class = BillingRuleOutputSerializer

    @extend_schema(request=BillingRuleInputSerializer, responses={201: BillingRuleOutputSerializer})
    def create(self, request, *args, **kwargs):
        serializer = BillingRuleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = services.billing_rule_create(merchant=self.merchant, **serializer.validated_data)
        return Response(BillingRuleOutputSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=BillingRuleInputSerializer, responses=BillingRuleOutputSerializer)
    def partial_update(self, request, *args, **kwargs):
        rule = self.get_object()
        serializer = BillingRuleInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        rule = services.billing_rule_update(rule=rule, **serializer.validated_data)
        return Response(BillingRuleOutputSerializer(rule).data)

    def perform_destroy(self, instance):
        services.billing_rule_delete(rule=instance)


router = Router()
router.register("customers", CustomerViewSet, basename="customer")
router.register("billing_rules", BillingRuleViewSet, basename="billing-rule")

urlpatterns = router.urls
