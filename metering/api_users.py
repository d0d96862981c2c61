"""REST routes for the users provisioned to a customer.

- ``GET /customers/{id}/users`` (``?at=`` who was provisioned at that instant; deprovisioned users stay
  in the plain list with their ``deprovisioned_at``), ``POST`` provisions ``{external_id, email, name,
  provisioned_at?}``.
- ``GET /customers/{id}/users/{user_id}``: the user's latest stint and its full history;
  ``DELETE ...?at=`` deprovisions (default now).
"""

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from atlas.api.viewsets import MerchantGenericView
from customers import selectors
from customers.models import Customer, CustomerUser, ProvisioningChange
from metering.provisioning import Actor, user_deprovision, user_provision


class UserInputSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    provisioned_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate_external_id(self, value: str) -> str:
        value = value.strip()
        if not value or "/" in value:
            raise serializers.ValidationError("must be a non-empty id without '/'")
        return value


class ProvisioningChangeSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = ProvisioningChange
        fields = ["action", "effective_at", "recorded_at", "actor", "snapshot"]


class UserOutputSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id")

    class Meta:
        model = CustomerUser
        fields = ["id", "external_id", "customer", "email", "name", "provisioned_at", "deprovisioned_at"]


class UserDetailSerializer(UserOutputSerializer):
    changes = ProvisioningChangeSerializer(many=True, source="history")

    class Meta(UserOutputSerializer.Meta):
        fields = [*UserOutputSerializer.Meta.fields, "changes"]


def _instant(request, name: str):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return serializers.DateTimeField().to_internal_value(raw)
    except serializers.ValidationError as exc:
        raise ValidationError({name: exc.detail})


def actor_of(request) -> Actor:
    return Actor.for_api_key(request.auth)


class _CustomerScoped(MerchantGenericView):
    queryset = CustomerUser.objects.select_related("customer")

    def customer(self) -> Customer:
        # Looked up before the body is read: another merchant's customer is a 404, never a 400.
        return get_object_or_404(
            Customer.objects.filter(merchant=self.merchant), external_id=self.kwargs["customer_external_id"]
        )


class CustomerUsersView(_CustomerScoped):
    serializer_class = UserOutputSerializer

    @extend_schema(
        operation_id="customers_users_list",
        parameters=[OpenApiParameter("at", str, description="Only users provisioned at this instant.")],
        responses=UserOutputSerializer(many=True),
    )
    def get(self, request, customer_external_id):
        customer = self.customer()
        at = _instant(request, "at")
        users = self.get_queryset().filter(customer=customer)
        if at is not None:
            users = users & selectors.users_provisioned_at(customer=customer, at=at)
        page = self.paginate_queryset(users)
        return self.get_paginated_response(UserOutputSerializer(page, many=True).data)

    @extend_schema(request=UserInputSerializer, responses={201: UserOutputSerializer})
    def post(self, request, customer_external_id):
        customer = self.customer()
        serializer = UserInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_provision(customer=customer, actor=actor_of(request), **serializer.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class CustomerUserDetailView(_CustomerScoped):
    serializer_class = UserDetailSerializer

    def user(self) -> CustomerUser:
        customer = self.customer()
        user = selectors.user_current(customer=customer, external_id=self.kwargs["user_external_id"])
        if user is None or user.merchant_id != self.merchant.pk:
            raise NotFound()
        return user

    def _detail(self, user: CustomerUser) -> dict:
        user.history = ProvisioningChange.objects.filter(
            customer_id=user.customer_id, user__external_id=user.external_id
        ).order_by("effective_at", "pk")
        return UserDetailSerializer(user).data

    @extend_schema(operation_id="customers_users_retrieve", responses=UserDetailSerializer)
    def get(self, request, customer_external_id, user_external_id):
        return Response(self._detail(self.user()))

    @extend_schema(
        parameters=[OpenApiParameter("at", str, description="Effective time of the deprovisioning (default now).")],
        responses={200: UserDetailSerializer},  # the user as deprovisioned, with its history (not a bare 204)
    )
    def delete(self, request, customer_external_id, user_external_id):
        user = self.user()
        user = user_deprovision(user=user, at=_instant(request, "at"), actor=actor_of(request))
        return Response(self._detail(user))


urlpatterns = [
    path("customers/<str:customer_external_id>/users", CustomerUsersView.as_view(), name="customer-users"),
    path(
        "customers/<str:customer_external_id>/users/<str:user_external_id>",
        CustomerUserDetailView.as_view(),
        name="customer-user-detail",
    ),
]
