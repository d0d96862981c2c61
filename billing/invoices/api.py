"""REST routes for invoices: list, show, PDF, lifecycle, line events (SPEC §8).

An invoice's credit notes (``/invoices/{id}/credit_notes``) are served by ``billing.credit_notes.api``, its payments
and ``/invoices/{id}/mark_paid`` (a payment of what is due) by ``billing.payments.api``.
"""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from atlas.api.exceptions import Conflict
from atlas.api.pagination import CursorPagination
from atlas.api.routers import Router
from atlas.api.viewsets import MerchantViewSet
from billing.invoices.models import Invoice, InvoiceLine
from billing.invoices.pdf import invoice_pdf_response
from billing.invoices.selectors import invoice_line_events, invoices_filter
from billing.invoices.serializers import InvoiceSerializer, LineEventSerializer
from billing.invoices.services import IllegalTransition, invoice_finalize, invoice_void


class InvoiceViewSet(MerchantViewSet):
    queryset = Invoice.objects.select_related("customer", "subscription").prefetch_related("lines")
    serializer_class = InvoiceSerializer
    lookup_value_regex = "[0-9]+"

    @extend_schema(
        parameters=[
            OpenApiParameter("customer", str, description="Customer external id"),
            OpenApiParameter("subscription", str, description="Subscription external id"),
            OpenApiParameter("status", str, enum=Invoice.Status.values),
        ]
    )
    def list(self, request):
        params = request.query_params
        status_filter = params.get("status", "")
        if status_filter and status_filter not in Invoice.Status.values:
            raise ValidationError({"status": f"must be one of {', '.join(Invoice.Status.values)}"})
        queryset = invoices_filter(
            self.get_queryset(),
            customer=params.get("customer", ""),
            subscription=params.get("subscription", ""),
            status=status_filter,
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(self.get_object()).data)

    def _transition(self, request, service):
        invoice = self.get_object()
        try:
            invoice = service(invoice=invoice, at=timezone.now(), actor=str(request.user))
        except IllegalTransition as exc:
            raise Conflict(str(exc))
        return Response(self.get_serializer(self.get_queryset().get(pk=invoice.pk)).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def finalize(self, request, pk=None):
        return self._transition(request, invoice_finalize)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        return self._transition(request, invoice_void)

    @extend_schema(responses={(200, "application/pdf"): bytes})
    @action(detail=True, methods=["get"], url_name="pdf")
    def pdf(self, request, pk=None):
        return invoice_pdf_response(self.get_object())

    @extend_schema(responses=LineEventSerializer(many=True))
    @action(detail=True, methods=["get"], url_path=r"lines/(?P<line_id>[0-9]+)/events", url_name="line-events")
    def line_events(self, request, pk=None, line_id=None):
        invoice = self.get_object()
        line = get_object_or_404(InvoiceLine.objects.select_related("invoice__subscription", "metric"),
                                 pk=line_id, invoice=invoice)  # fmt: skip
        paginator = CursorPagination()
        paginator.ordering = ("-timestamp", "-id")
        page = paginator.paginate_queryset(invoice_line_events(line=line), request, view=self)
        return paginator.get_paginated_response(LineEventSerializer(page, many=True).data)


router = Router()
router.register("invoices", InvoiceViewSet, basename="invoice")

urlpatterns = router.urls
