from rest_framework.permissions import BasePermission


class HasMerchant(BasePermission):
    """Every API request acts for exactly one merchant: the API key's."""

    def has_permission(self, request, view) -> bool:
        return getattr(request.auth, "merchant_id", None) is not None
