"""REST routes for a customer's credit grants and credit balance (SPEC §8)."""

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from atlas.api.pagination import CursorPagination, page_of
from atlas.api.viewsets import MerchantAPIView
from atlas.money import to_str
from billing.credits.models import CreditGrant, CreditLedgerEntry
from billing.credits.selectors import credit_summary
from billing.credits.serializers import CreditGrantInputSerializer, CreditGrantSerializer, LedgerEntrySerializer
from billing.credits.services import credit_grant_create
from customers.models import Customer


class CustomerScopedView(MerchantAPIView):
    def customer(self, external_id: str) -> Customer:
        return get_object_or_404(Customer, merchant=self.merchant, external_id=external_id)


class CreditGrantsView(CustomerScopedView):
    queryset = CreditGrant.objects.all()

    @extend_schema(
        operation_id="customers_credit_grants_list",
        responses=page_of(CreditGrantSerializer(many=True), "PaginatedCreditGrantList"),
    )
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


urlpatterns = [
    path("customers/<str:external_id>/credit_grants", CreditGrantsView.as_view(), name="customer-credit-grants"),
    path("customers/<str:external_id>/credits", CreditsView.as_view(), name="customer-credits"),
]
