"""The structural tenant guard for the API.

Every API view derives from :class:`MerchantScopedMixin`. It resolves the
merchant from the API key and is the only place that builds a queryset:
subclasses name the model (or a base queryset) and the path to the merchant,
and may not override ``get_queryset`` (checked when the class is created), so
no view can forget the merchant filter. Another merchant's record is simply
not in the queryset, so it is answered 404, exactly like a missing one.
"""

from django.db.models import QuerySet
from rest_framework import mixins, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.views import APIView


class MerchantScopedMixin:
    merchant_field: str = "merchant"
    lookup_value_regex = "[^/]+"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset; override get_base_queryset instead so the "
                "merchant filter cannot be bypassed"
            )

    @property
    def merchant(self):
        return self.request.auth.merchant

    def get_base_queryset(self) -> QuerySet:
        return self.queryset.all()

    def get_queryset(self) -> QuerySet:
        return self.get_base_queryset().filter(**{self.merchant_field: self.request.auth.merchant_id})


class MerchantAPIView(MerchantScopedMixin, APIView):
    """A plain endpoint acting for the caller's merchant."""


class MerchantGenericView(MerchantScopedMixin, GenericAPIView):
    pass


class MerchantViewSet(MerchantScopedMixin, viewsets.GenericViewSet):
    pass


class MerchantModelViewSet(
    MerchantScopedMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Create, list, retrieve and PATCH (no PUT: partial updates only)."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
