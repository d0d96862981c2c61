"""The cockpit's frame: one navigation item lit per page, a favicon on every page and at /favicon.ico."""

import pytest

from tests.cockpit.builders import login

pytestmark = pytest.mark.django_db


def lit(response) -> list[str]:
    return [item["label"] for item in response.context["cockpit_nav"] if item["active"]]


@pytest.mark.parametrize(
    ("path", "label"),
    [("/", "Dashboard"), ("/settings/", "Settings"), ("/settings/api-keys/", "API keys"),
     ("/customers/", "Customers"), ("/invoices/", "Invoices"), ("/analytics/", "Analytics")],
)  # fmt: skip
def test_exactly_one_navigation_item_is_lit(client, tenant, path, label):
    login(client, tenant)
    response = client.get(path)
    assert response.status_code == 200
    assert lit(response) == [label]
    assert response.content.decode().count('aria-current="page"') == 1


def test_every_page_links_the_favicon(client, tenant):
    login(client, tenant)
    content = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in content
    assert '<link rel="icon" href="/static/favicon.ico" sizes="48x48">' in content
    client.logout()
    assert 'rel="icon"' in client.get("/login/").content.decode()


def test_favicon_ico_is_never_a_404(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.ico"
    assert "max-age=86400" in response["Cache-Control"]
    from django.contrib.staticfiles import finders

    with open(finders.find("favicon.ico"), "rb") as icon:  # served by whitenoise / runserver from static/
        assert icon.read(4) == b"\x00\x00\x01\x00"  # an ICO file


def test_api_keys_show_their_times_in_the_merchants_zone_and_format(client, tenant):
    from datetime import UTC, datetime

    from atlas.models import ApiKey

    ApiKey.objects.filter(merchant=tenant.merchant).update(created_at=datetime(2026, 1, 5, 23, 30, tzinfo=UTC))
    tenant.merchant.timezone, tenant.merchant.locale = "Europe/Berlin", "de"
    tenant.merchant.save()
    login(client, tenant)
    content = client.get("/settings/api-keys/").content.decode()
    assert "6. Jan. 2026 00:30" in content  # Berlin is an hour ahead of UTC in January
