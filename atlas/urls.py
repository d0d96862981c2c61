"""Root URLs: the cockpit at /, the Django admin, and the REST API under /api/v1/.

Each app contributes ``<app>/api.py`` (REST routes, listed in ``API_MODULES``)
and ``<app>/urls.py`` (cockpit pages, listed in ``COCKPIT_MODULES``; they all
share the ``cockpit`` namespace).
"""

from importlib import import_module

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.defaults import page_not_found, server_error

from atlas.api import exceptions
from atlas.team import views as team_views

API_MODULES = [
    "atlas.api.urls",
    "catalog.api",
    "customers.api",
    "metering.api",
    "metering.api_users",
    "billing.subscriptions.api",
    "billing.usage.api",
    "billing.invoices.api",
    "billing.invoices.api_upcoming",
    "billing.credit_notes.api",
    "billing.payments.api",
    "billing.credits.api",
    "billing.runs.api",
    "billing.reports.finance_api",
    "billing.statements.api",
]
COCKPIT_MODULES = [
    "atlas.cockpit_urls",
    "catalog.urls",
    "customers.urls",
    "customers.rules.urls",
    "metering.urls",
    "billing.urls",
]


def _patterns(modules: list[str]) -> list:
    return [pattern for module in modules for pattern in import_module(module).urlpatterns]




@cache_control(max_age=86400, public=True)
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says: send them to the static icon, never a 404."""
    return redirect(static("favicon.ico"))


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("set-password/<uidb64>/<token>/", team_views.SetPasswordView.as_view(), name="set-password"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(_patterns(API_MODULES))),
    path("", include((_patterns(COCKPIT_MODULES), "cockpit"))),
]


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return exceptions.api_not_found(request, exception)
    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return exceptions.api_server_error(request)
    return server_error(request)
