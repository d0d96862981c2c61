"""REST routes for invoices, credits and billing runs (SPEC §8)."""

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from atlas.api.exceptions import Conflict
from atlas.api.pagination import CursorPagination
from atlas.api.routers import Router
from atlas.api.viewsets import MerchantAPIView, MerchantViewSet
from atlas.money import to_str
from billing.credit_notes import credit_note_issue
from billing.credits import credit_grant_create
from billing.engine import billing_run
from billing.models import CreditGrant, CreditLedgerEntry, CreditNote, Invoice, InvoiceLine
from billing.pdf import credit_note_pdf_response, invoice_pdf_response
from billing.selectors import credit_summary, invoice_line_events, invoices_filter
from billing.serializers import (
    BillingRunInputSerializer,
    BillingRunSerializer,
    CreditGrantInputSerializer,
    CreditGrantSerializer,
    CreditNoteInputSerializer,
    CreditNoteSerializer,
    InvoiceSerializer,
    LedgerEntrySerializer,
    LineEventSerializer,
)
from billing.services import IllegalTransition, invoice_finalize, invoice_mark_paid, invoice_void
from customers.models import Customer


def _actor(request) -> str:
    return f"api key {request.auth.prefix}…"


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
            invoice = service(invoice=invoice, at=timezone.now(), actor=_actor(request))
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

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def mark_paid(self, request, pk=None):
        return self._transition(request, invoice_mark_paid)

    @extend_schema(responses={(200, "application/pdf"): bytes})
    @action(detail=True, methods=["get"], url_name="pdf")
    def pdf(self, request, pk=None):
        return invoice_pdf_response(self.get_object())

    @extend_schema(methods=["GET"], responses=CreditNoteSerializer(many=True))
    @extend_schema(methods=["POST"], request=CreditNoteInputSerializer, responses={201: CreditNoteSerializer})
    @action(detail=True, methods=["get", "post"], url_path="credit_notes", url_name="credit-notes")
    def credit_notes(self, request, pk=None):
        """GET: the invoice's credit notes. POST: issue one (201); 409 unless the invoice is finalized or paid."""
        invoice = self.get_object()
        if request.method == "GET":
            notes = CREDIT_NOTES.filter(invoice=invoice)
            return Response(CreditNoteSerializer(notes, many=True).data)
        serializer = CreditNoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            note = credit_note_issue(
                invoice=invoice, lines=[(line["line"], line["amount"]) for line in data["lines"]],
                reason=data["reason"], memo=data["memo"], method=data["method"], at=timezone.now(),
                actor=_actor(request),
            )  # fmt: skip
        except IllegalTransition as exc:
            raise Conflict(str(exc))
        return Response(CreditNoteSerializer(CREDIT_NOTES.get(pk=note.pk)).data, status=status.HTTP_201_CREATED)

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


class CustomerScopedView(MerchantAPIView):
    def customer(self, external_id: str) -> Customer:
        return get_object_or_404(Customer, merchant=self.merchant, external_id=external_id)


class CreditGrantsView(CustomerScopedView):
    queryset = CreditGrant.objects.all()

    @extend_schema(responses=CreditGrantSerializer(many=True))
    def get(self, request, external_id: str):
        customer = self.customer(external_id)
        summary = credit_summary(customer=customer, at=timezone.now())
        states = {state.grant.pk: state for state in summary["states"]}
        paginator = CursorPagination()
        page = paginator.paginate_queryset(self.get_queryset().filter(customer=customer), request, view=self)
        data = CreditGrantSerializer(page, many=True, context={"states": states}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=CreditGrantInputSerializer, responses=CreditGrantSerializer)
    def post(self, request, external_id: str):
        customer = self.customer(external_id)
        serializer = CreditGrantInputSerializer(data=request.data, context={"customer": customer})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        grant = credit_grant_create(
            merchant=self.merchant,
            customer=customer,
            amount=data["amount"],
            currency=data["currency"],
            priority=data["priority"],
            expires_at=data["expires_at"],
            granted_at=data["granted_at"],
            reason=data["reason"],
        )
        summary = credit_summary(customer=customer, at=timezone.now())
        states = {state.grant.pk: state for state in summary["states"]}
        return Response(CreditGrantSerializer(grant, context={"states": states}).data, status=status.HTTP_201_CREATED)


class CreditsView(CustomerScopedView):
    queryset = CreditLedgerEntry.objects.all()

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, external_id: str):
        """Balance per currency and the ledger (append-only; it sums to the balance)."""
        customer = self.customer(external_id)
        summary = credit_summary(customer=customer, at=timezone.now())
        ledger = self.get_queryset().filter(customer=customer).select_related("grant").order_by("at", "pk")
        currency = customer.currency if customer.currency in summary["currencies"] else next(
            iter(summary["currencies"])
        )
        balances = {
            code: {key: to_str(value, code) for key, value in values.items()}
            for code, values in summary["currencies"].items()
        }
        main = balances[currency]
        return Response({
            "customer": customer.external_id,
            "currency": currency,
            "balance": main["balance"],
            "available_balance": main["available"],
            "balances": balances,
            "ledger": LedgerEntrySerializer(ledger, many=True).data,
        })  # fmt: skip


class BillingRunsView(MerchantAPIView):
    @extend_schema(request=BillingRunInputSerializer, responses=BillingRunSerializer)
    def post(self, request):
        """Run the jobs engine for the caller's merchant at ``as_of``: idempotent, safe to repeat."""
        serializer = BillingRunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = billing_run(as_of=serializer.validated_data["as_of"], merchant=self.merchant, trigger=_actor(request))
        return Response(BillingRunSerializer(run).data, status=status.HTTP_200_OK)


router = Router()
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("credit_notes", CreditNoteViewSet, basename="credit-note")

urlpatterns = [
    *router.urls,
    path("customers/<str:external_id>/credit_grants", CreditGrantsView.as_view(), name="customer-credit-grants"),
    path("customers/<str:external_id>/credits", CreditsView.as_view(), name="customer-credits"),
    path("billing/runs", BillingRunsView.as_view(), name="billing-runs"),
]
