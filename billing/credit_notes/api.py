"""REST routes for credit notes: list, show, PDF (issuing is on the invoice: billing.invoices.api)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from atlas.api.routers import Router
from atlas.api.viewsets import MerchantViewSet
from billing.credit_notes.models import CreditNote
from billing.credit_notes.pdf import credit_note_pdf_response
from billing.credit_notes.serializers import CreditNoteSerializer

CREDIT_NOTES = CreditNote.objects.select_related("invoice", "customer").prefetch_related("lines")


class CreditNoteViewSet(MerchantViewSet):
    queryset = CREDIT_NOTES
    serializer_class = CreditNoteSerializer
    lookup_value_regex = "[0-9]+"

    @extend_schema(
        parameters=[
            OpenApiParameter("customer", str, description="Customer external id"),
            OpenApiParameter("invoice", int, description="Invoice id"),
        ]
    )
    def list(self, request):
        queryset = self.get_queryset()
        customer = request.query_params.get("customer", "")
        if customer:
            queryset = queryset.filter(customer__external_id=customer)
        invoice = request.query_params.get("invoice", "")
        if invoice:
            if not (invoice.isascii() and invoice.isdigit()):
                raise ValidationError({"invoice": "must be an invoice id"})
            queryset = queryset.filter(invoice_id=int(invoice))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(responses={(200, "application/pdf"): bytes})
    @action(detail=True, methods=["get"], url_name="pdf")
    def pdf(self, request, pk=None):
        return credit_note_pdf_response(self.get_object())


router = Router()
router.register("credit_notes", CreditNoteViewSet, basename="credit-note")

urlpatterns = router.urls
