"""Viewers change nothing anywhere in the cockpit: one central guard (``MerchantPageMixin.dispatch``) refuses
every unsafe method from a viewer, and every cockpit page derives from it."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from atlas.tenancy import MerchantPageMixin
from tests.cockpit.builders import login_viewer

pytestmark = pytest.mark.django_db


def cockpit_views():
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.namespace == "cockpit":
            for pattern in entry.url_patterns:
                if isinstance(pattern, URLPattern):
                    yield pattern


def _url(pattern) -> str:
    route = str(pattern.pattern)
    for converter in ("<int:pk>", "<str:external_id>", "<slug:code>", "<str:code>", "<int:index>"):
        route = route.replace(converter, "1")
    while "<" in route:
        start = route.index("<")
        route = route[:start] + "1" + route[route.index(">", start) + 1 :]
    return "/" + route


def test_every_cockpit_page_goes_through_the_central_guard():
    outside = [str(p.pattern) for p in cockpit_views() if not issubclass(p.callback.view_class, MerchantPageMixin)]
    assert outside == []


def test_a_viewer_gets_403_for_every_post_in_the_cockpit(client, tenant):
    login_viewer(client, tenant)
    answers = {_url(p): client.post(_url(p), {"name": "x"}).status_code for p in cockpit_views()}
    assert answers and {url: code for url, code in answers.items() if code != 403} == {}
