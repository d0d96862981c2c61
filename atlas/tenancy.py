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

from atlas import locales

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
        # Pages and documents write money and dates in the merchant's locale (atlas/locales.py).
        token = locales.activate(request.merchant.locale if request.merchant is not None else None)
        try:
            return self.get_response(request)
        finally:
            locales.reset(token)


# The cockpit's main navigation: (label, URL name). Each app's pages register their names in its urls.py.
COCKPIT_NAV = [
    ("Dashboard", "cockpit:dashboard"),
    ("Customers", "cockpit:customers"),
    ("Metrics", "cockpit:metrics"),
    ("Features", "cockpit:features"),
    ("Plans", "cockpit:plans"),
    ("Invoices", "cockpit:invoices"),
    ("Payments", "cockpit:payments"),
    ("Events", "cockpit:events"),
    ("Billing rules", "cockpit:billing-rules"),
    ("Analytics", "cockpit:analytics"),
    ("Receivables", "cockpit:receivables"),
    ("Exports", "cockpit:exports"),
    ("Team", "cockpit:team"),
    ("Audit log", "cockpit:audit-log"),
    ("API keys", "cockpit:api-keys"),
    ("Settings", "cockpit:settings"),
]


def _nav(request) -> list[dict]:
    """The items, the one whose URL is the longest prefix of the path highlighted: on ``/settings/api-keys/``
    that is *API keys*, not *Settings* as well (``/`` matches only itself)."""
    items = []
    for label, name in COCKPIT_NAV:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "active": False})
    matches = [item for item in items if request.path == item["url"] or
               (item["url"] != "/" and request.path.startswith(item["url"]))]  # fmt: skip
    if matches:
        max(matches, key=lambda item: len(item["url"]))["active"] = True
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
