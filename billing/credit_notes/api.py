"""REST routes for credit notes: an invoice's notes (list, issue), every note (list, show, PDF)."""

from django.urls import re_path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from atlas.api.exceptions import Conflict
from atlas.api.routers import Router
from atlas.api.viewsets import MerchantGenericView, MerchantViewSet
from billing.credit_notes.models import CreditNote
from billing.credit_notes.pdf import credit_note_pdf_response
from billing.credit_notes.serializers import CreditNoteInputSerializer, CreditNoteSerializer
from billing.credit_notes.services import credit_note_issue
from billing.invoices.models import Invoice
from billing.invoices.services import IllegalTransition

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


class InvoiceCreditNotesView(MerchantGenericView):
    """GET: the invoice's credit notes. POST: issue one (201); 409 unless the invoice is finalized or paid."""

    queryset = Invoice.objects.prefetch_related("lines")
    lookup_value_regex = "[0-9]+"
    pagination_class = None  # an invoice's few notes, as one list (the /credit_notes list pages)

    @extend_schema(responses=CreditNoteSerializer(many=True))
    def get(self, request, pk):
        notes = CREDIT_NOTES.filter(invoice=self.get_object())
        return Response(CreditNoteSerializer(notes, many=True).data)

    @extend_schema(request=CreditNoteInputSerializer, responses={201: CreditNoteSerializer})
    def post(self, request, pk):
        invoice = self.get_object()
        serializer = CreditNoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            note = credit_note_issue(
                invoice=invoice, lines=[(line["line"], line["amount"]) for line in data["lines"]],
                reason=data["reason"], memo=data["memo"], method=data["method"], at=timezone.now(),
                actor=str(request.user),
            )  # fmt: skip
        except IllegalTransition as exc:
            raise Conflict(str(exc))
        return Response(CreditNoteSerializer(CREDIT_NOTES.get(pk=note.pk)).data, status=status.HTTP_201_CREATED)


router = Router()
router.register("credit_notes", CreditNoteViewSet, basename="credit-note")

urlpatterns = [
    *router.urls,
    re_path(r"^invoices/(?P<pk>[0-9]+)/credit_notes/?$", InvoiceCreditNotesView.as_view(), name="invoice-credit-notes"),
]
