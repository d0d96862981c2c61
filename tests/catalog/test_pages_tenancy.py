"""Walk every catalog cockpit page as another merchant's staff: 404 for each method, and nothing changes.

The routes come from ``catalog.urls``, so a page added later is walked without editing this test; its path
parameters are filled from the owner's records in ``tests/catalog/tenancy.py`` (a published plan and a draft).
"""

import pytest

from catalog import urls
from catalog.models import Charge, Feature, Metric, OneTimeFee, Plan, PlanFeature, PlanVersion
from tests.catalog.tenancy import populate
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db

MODELS = (Metric, Feature, Plan, PlanVersion, Charge, PlanFeature, OneTimeFee)


def snapshot() -> dict:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in MODELS}


def fill(route: str, ctx: dict) -> str:
    """The route with the owner's records: a metric's code, a feature's key, the draft plan and its first lines."""
    code = ctx["metric"].code if route.startswith("metrics/") else ctx["draft_plan"].code
    url = route.replace("<str:code>", code).replace("<str:key>", ctx["feature"].key).replace("<int:index>", "0")
    assert "<" not in url, route
    return "/" + url


def test_every_catalog_page_answers_404_to_another_merchants_staff(client):
    owner = Tenant("Owner Co", "owner@owner.test")
    intruder = Tenant("Intruder Co", "owner@intruder.test")
    ctx: dict = {}
    populate(owner.merchant, ctx)
    routes = [(str(pattern.pattern), pattern.callback.view_class) for pattern in urls.urlpatterns]
    assert len(routes) >= 15

    client.login(username=owner.user.username, password="correct-horse-battery")
    walked = []
    for route, view in routes:
        if "<" in route and hasattr(view, "get"):
            assert client.get(fill(route, ctx)).status_code == 200, route  # the owner sees it: the values work
            walked.append(route)
    assert {"metrics/<str:code>/", "features/<str:key>/", "plans/<str:code>/features/<int:index>/",
            "plans/<str:code>/fees/<int:index>/", "plans/<str:code>/publish/"} <= set(walked)  # fmt: skip

    before = snapshot()
    client.login(username=intruder.user.username, password="correct-horse-battery")
    for route, view in routes:
        if "<" not in route:
            continue
        url = fill(route, ctx)
        for method in ("get", "post"):
            if hasattr(view, method):
                assert getattr(client, method)(url).status_code == 404, f"{method.upper()} {url}"
    assert snapshot() == before


def test_the_lists_show_only_the_merchants_own_records(client):
    owner = Tenant("Owner Co", "owner@owner.test")
    intruder = Tenant("Intruder Co", "owner@intruder.test")
    ctx: dict = {}
    populate(owner.merchant, ctx)
    client.login(username=intruder.user.username, password="correct-horse-battery")
    assert client.get("/metrics/").context["rows"] == []
    assert client.get("/features/").context["rows"] == []
    assert client.get("/plans/").context["rows"] == []
