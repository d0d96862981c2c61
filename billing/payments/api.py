"""REST routes for payments (SPEC §11.2): an invoice's payments (list, record), ``/invoices/{id}/mark_paid``, every
payment (list, show), refunds, and the bank statement import."""

from django.urls import re_path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from atlas.api.exceptions import Conflict
from atlas.api.routers import Router
from atlas.api.viewsets import MerchantGenericView, MerchantViewSet
from billing.invoices.models import Invoice
from billing.invoices.serializers import InvoiceSerializer
from billing.invoices.services import IllegalTransition
from billing.payments.bank_import import bank_statement_import
from billing.payments.models import Payment
from billing.payments.serializers import (
    ImportInputSerializer,
    ImportResultSerializer,
    PaymentInputSerializer,
    PaymentSerializer,
    RefundInputSerializer,
    RefundSerializer,
)
from billing.payments.services import invoice_mark_paid, payment_record, payment_refund
from customers.api import import_error_response
from metering.provisioning import Actor

PAYMENTS = Payment.objects.select_related("invoice", "customer").prefetch_related("refunds")


def actor_of(request) -> Actor:
    """The API key, labelled as the invoice audit trail labels it (``api key atlas_ab12…``)."""
    return Actor(api_key=request.auth, label=str(request.user))


def _id_param(value: str, field: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise ValidationError({field: "must be an id (digits)"})
    return int(value)


class PaymentViewSet(MerchantViewSet):
    queryset = PAYMENTS
    serializer_class = PaymentSerializer
    lookup_value_regex = "[0-9]{1,18}"

    @extend_schema(
        parameters=[
            OpenApiParameter("customer", str, description="Customer external id"),
            OpenApiParameter("invoice", int, description="Invoice id"),
            OpenApiParameter("method", str, enum=Payment.Method.values),
        ]
    )
    def list(self, request):
        queryset = self.get_queryset()
        params = request.query_params
        if params.get("customer", ""):
            queryset = queryset.filter(customer__external_id=params["customer"])
        if params.get("invoice", ""):
            queryset = queryset.filter(invoice_id=_id_param(params["invoice"], "invoice"))
        if params.get("method", ""):
            if params["method"] not in Payment.Method.values:
                raise ValidationError({"method": f"must be one of {', '.join(Payment.Method.values)}"})
            queryset = queryset.filter(method=params["method"])
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=RefundInputSerializer, responses={201: RefundSerializer})
    @action(detail=True, methods=["post"])
    def refunds(self, request, pk=None):
        """Record money given back against this payment; its invoice owes that amount again."""
        payment = self.get_object()
        serializer = RefundInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        refund = payment_refund(payment=payment, actor=actor_of(request), **serializer.validated_data)
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class InvoicePaymentsView(MerchantGenericView):
    """GET: the invoice's payments. POST: record one (201); 409 unless the invoice is finalized."""

    queryset = Invoice.objects.all()
    lookup_value_regex = "[0-9]+"
    pagination_class = None  # an invoice's few payments, as one list (``/payments`` pages)

    @extend_schema(responses=PaymentSerializer(many=True))
    def get(self, request, pk):
        return Response(PaymentSerializer(PAYMENTS.filter(invoice=self.get_object()), many=True).data)

    @extend_schema(request=PaymentInputSerializer, responses={201: PaymentSerializer})
    def post(self, request, pk):
        invoice = self.get_object()
        serializer = PaymentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            payment = payment_record(invoice=invoice, actor=actor_of(request), **serializer.validated_data)
        except IllegalTransition as exc:
            raise Conflict(str(exc))
        return Response(PaymentSerializer(PAYMENTS.get(pk=payment.pk)).data, status=status.HTTP_201_CREATED)


class InvoiceMarkPaidView(MerchantGenericView):
    """POST: record a payment of what a finalized invoice still asks for; answers the invoice (409 otherwise)."""

    queryset = Invoice.objects.all()

    @extend_schema(request=None, responses=InvoiceSerializer)
    def post(self, request, pk):
        try:
            invoice = invoice_mark_paid(invoice=self.get_object(), actor=actor_of(request))
        except IllegalTransition as exc:
            raise Conflict(str(exc))
        fresh = Invoice.objects.select_related("customer", "subscription").prefetch_related("lines").get(pk=invoice.pk)
        return Response(InvoiceSerializer(fresh).data)


class PaymentImportView(MerchantGenericView):
    """POST a bank statement CSV (multipart ``file``; ``dry_run`` to preview): rows whose reference names an invoice
    number, or whose amount is exactly what one open invoice owes, pay it; the others are listed as unmatched."""

    queryset = Payment.objects.all()

    @extend_schema(request={"multipart/form-data": ImportInputSerializer}, responses=ImportResultSerializer)
    def post(self, request):
        serializer = ImportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        report = bank_statement_import(
            merchant=self.merchant, data=upload.read(), file_name=upload.name or "",
            dry_run=serializer.validated_data["dry_run"], actor=actor_of(request),
        )  # fmt: skip
        if not report.ok:
            return import_error_response(report)
        return Response(report.answer())


router = Router()
router.register("payments", PaymentViewSet, basename="payment")

urlpatterns = [
    re_path(r"^payments/import/?$", PaymentImportView.as_view(), name="payment-import"),
    *router.urls,
    re_path(r"^invoices/(?P<pk>[0-9]+)/payments/?$", InvoicePaymentsView.as_view(), name="invoice-payments"),
    re_path(r"^invoices/(?P<pk>[0-9]+)/mark_paid/?$", InvoiceMarkPaidView.as_view(), name="invoice-mark-paid"),
]
