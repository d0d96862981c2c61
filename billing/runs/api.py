"""REST route to run the jobs engine for an instant (SPEC §8)."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from atlas.api.viewsets import MerchantAPIView
from billing.runs.engine import billing_run
from billing.runs.serializers import BillingRunInputSerializer, BillingRunSerializer


class BillingRunsView(MerchantAPIView):
    @extend_schema(request=BillingRunInputSerializer, responses=BillingRunSerializer)
    def post(self, request):
        """Run the jobs engine for the caller's merchant at ``as_of``: idempotent, safe to repeat."""
        serializer = BillingRunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = billing_run(as_of=serializer.validated_data["as_of"], merchant=self.merchant, trigger=str(request.user))
        return Response(BillingRunSerializer(run).data, status=status.HTTP_200_OK)


urlpatterns = [
    path("billing/runs", BillingRunsView.as_view(), name="billing-runs"),
]
