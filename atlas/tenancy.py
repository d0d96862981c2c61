"""The structural tenant guard for cockpit pages.

``CockpitMerchantMiddleware`` attaches the logged-in user's merchant and role
to the request. Cockpit views derive from :class:`MerchantPageMixin`, which
requires login and a membership and offers :meth:`scoped` as the one way to
query tenant data; :class:`MerchantEditMixin` additionally refuses viewers.
"""

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404
from django.urls import NoReverseMatch, reverse

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class CockpitMerchantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.merchant = None
        request.membership = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            membership = getattr(user, "membership", None) if hasattr(user, "membership") else None
            if membership is not None:
                request.membership = membership
                request.merchant = membership.merchant
        return self.get_response(request)


# The cockpit's main navigation: (label, URL name). Each app's pages register their names in its urls.py.
COCKPIT_NAV = [
    ("Dashboard", "cockpit:dashboard"),
    ("Customers", "cockpit:customers"),
    ("Plans", "cockpit:plans"),
    ("Invoices", "cockpit:invoices"),
    ("Payments", "cockpit:payments"),
    ("Events", "cockpit:events"),
    ("Analytics", "cockpit:analytics"),
    ("Receivables", "cockpit:receivables"),
    ("Exports", "cockpit:exports"),
    ("API keys", "cockpit:api-keys"),
    ("Settings", "cockpit:settings"),
]


def _nav(request) -> list[dict]:
    items = []
    for label, name in COCKPIT_NAV:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        active = request.path == url if url == "/" else request.path.startswith(url)
        items.append({"label": label, "url": url, "active": active})
    return items


def merchant_context(request):
    membership = getattr(request, "membership", None)
    merchant = getattr(request, "merchant", None)
    return {
        "merchant": merchant,
        "can_edit": bool(membership and membership.can_edit),
        "cockpit_nav": _nav(request) if merchant is not None else [],
    }


class MerchantPageMixin(AccessMixin):
    """Login and a merchant membership required; data only through :meth:`scoped`.

    Viewers may read every page; any unsafe method (POST, …) from a viewer is refused.
    """

    merchant_field = "merchant"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "merchant", None) is None:
            raise Http404("No merchant for this user")
        if request.method not in SAFE_METHODS and not request.membership.can_edit:
            raise PermissionDenied("Viewers cannot change anything.")
        return super().dispatch(request, *args, **kwargs)

    @property
    def merchant(self):
        return self.request.merchant

    def scoped(self, model_or_queryset: type[Model] | QuerySet, merchant_field: str | None = None) -> QuerySet:
        queryset = (
            model_or_queryset.all() if isinstance(model_or_queryset, QuerySet) else model_or_queryset._default_manager
        )
        return queryset.filter(**{merchant_field or self.merchant_field: self.request.merchant})


class MerchantEditMixin(MerchantPageMixin):
    """For pages that only exist to change data (forms): viewers get 403 even on GET."""

    def dispatch(self, request, *args, **kwargs):
        membership = getattr(request, "membership", None)
        if request.user.is_authenticated and membership is not None and not membership.can_edit:
            raise PermissionDenied("Viewers cannot change anything.")
        return super().dispatch(request, *args, **kwargs)
