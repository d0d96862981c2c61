"""Login, the structural page guard, viewers, and API keys in the cockpit."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver

from atlas.models import ApiKey, Membership

pytestmark = pytest.mark.django_db


def cockpit_urls():
    """Every cockpit page, discovered from the resolver (parameters filled with 1)."""
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.namespace == "cockpit":
            for pattern in entry.url_patterns:
                assert isinstance(pattern, URLPattern)
                route = str(pattern.pattern)
                for converter in ("<int:pk>", "<int:id>"):
                    route = route.replace(converter, "1")
                yield "/" + route.replace("<str:", "<").split("<")[0]


def login(client, tenant):
    client.login(username=tenant.user.username, password="correct-horse-battery")


def test_the_login_page_answers(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b"Log in to Atlas" in response.content


def test_every_cockpit_page_needs_login(client, tenant):
    urls = list(cockpit_urls())
    assert {"/", "/settings/", "/settings/api-keys/"} <= set(urls)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/"), url


def test_logging_in_lands_on_the_merchant_home(client, tenant):
    response = client.post("/login/", {"username": "owner@acme.test", "password": "correct-horse-battery"})
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"Acme Cloud" in page.content


def test_a_wrong_password_is_refused(client, tenant):
    response = client.post("/login/", {"username": "owner@acme.test", "password": "nope"})
    assert response.status_code == 200
    assert client.get("/").status_code == 302


def test_a_user_without_a_merchant_gets_404(client, db):
    get_user_model().objects.create_user(username="lonely", password="x-very-long-pass")
    client.login(username="lonely", password="x-very-long-pass")
    assert client.get("/").status_code == 404


def test_creating_a_key_shows_the_secret_once(client, tenant):
    login(client, tenant)
    response = client.post("/settings/api-keys/", {"name": "ingest"})
    assert response.status_code == 201
    key = ApiKey.objects.get(merchant=tenant.merchant, name="ingest")
    secret = response.context["new_secret"]
    assert key.hashed_key == ApiKey.hash(secret)
    assert secret.encode() in response.content
    assert secret.encode() not in client.get("/settings/api-keys/").content


def test_creating_a_key_without_a_name_is_refused(client, tenant):
    login(client, tenant)
    response = client.post("/settings/api-keys/", {"name": ""})
    assert response.status_code == 400
    assert ApiKey.objects.filter(merchant=tenant.merchant).count() == 1


def test_revoking_a_key_from_the_cockpit(client, tenant):
    login(client, tenant)
    key = ApiKey.objects.get(merchant=tenant.merchant)
    response = client.post(f"/settings/api-keys/{key.pk}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert tenant.api.get("/api/v1/merchant").status_code == 401


def test_another_merchants_key_cannot_be_revoked(client, tenant, other_tenant):
    login(client, tenant)
    foreign = ApiKey.objects.get(merchant=other_tenant.merchant)
    assert client.post(f"/settings/api-keys/{foreign.pk}/revoke/").status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_a_viewer_sees_keys_but_cannot_create_or_revoke(client, tenant):
    viewer = get_user_model().objects.create_user(username="viewer@acme.test", password="viewer-password")
    Membership.objects.create(user=viewer, merchant=tenant.merchant, role=Membership.Role.VIEWER)
    client.login(username="viewer@acme.test", password="viewer-password")
    page = client.get("/settings/api-keys/")
    assert page.status_code == 200
    assert b"Create key" not in page.content
    key = ApiKey.objects.get(merchant=tenant.merchant)
    assert client.post("/settings/api-keys/", {"name": "x"}).status_code == 403
    assert client.post(f"/settings/api-keys/{key.pk}/revoke/").status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None
    assert ApiKey.objects.filter(merchant=tenant.merchant).count() == 1


def test_csrf_protection_stays_on_for_pages(tenant):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.login(username="owner@acme.test", password="correct-horse-battery")
    assert client.post("/settings/api-keys/", {"name": "x"}).status_code == 403


def test_settings_page_saves_valid_settings(client, tenant):
    login(client, tenant)
    assert client.get("/settings/").status_code == 200
    data = {
        "name": "Acme Cloud",
        "billing_day": "26",
        "invoice_grace_hours": "48",
        "invoice_prefix": "ACME",
        "default_tax_rate": "20",
        "timezone": "Europe/Paris",
        "payment_terms_days": "14",
        "company_name": "Acme Cloud SAS",
        "company_address": "1 rue de Rivoli\nParis",
        "company_email": "billing@acme.test",
        "company_tax_id": "FR123",
    }
    response = client.post("/settings/", data)
    assert response.status_code == 302
    tenant.merchant.refresh_from_db()
    assert tenant.merchant.billing_day == 26
    assert tenant.merchant.invoice_grace_hours == 48
    assert str(tenant.merchant.default_tax_rate) == "0.200000"
    assert tenant.merchant.timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("field", "value"),
    [("billing_day", "31"), ("default_tax_rate", "abc"), ("timezone", "Mars/Base"), ("invoice_prefix", "a b")],
)
def test_settings_page_rejects_bad_values_and_changes_nothing(client, tenant, field, value):
    login(client, tenant)
    data = {
        "name": "Acme Cloud",
        "billing_day": "1",
        "invoice_grace_hours": "0",
        "invoice_prefix": "INV",
        "default_tax_rate": "0",
        "timezone": "UTC",
        "payment_terms_days": "30",
        "company_name": "Changed",
        field: value,
    }
    response = client.post("/settings/", data)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    tenant.merchant.refresh_from_db()
    assert tenant.merchant.company_name == "Acme Cloud"
    assert tenant.merchant.billing_day == 1


def test_a_viewer_cannot_change_settings(client, tenant):
    viewer = get_user_model().objects.create_user(username="v@acme.test", password="viewer-password")
    Membership.objects.create(user=viewer, merchant=tenant.merchant, role=Membership.Role.VIEWER)
    client.login(username="v@acme.test", password="viewer-password")
    assert client.get("/settings/").status_code == 200
    assert client.post("/settings/", {"name": "Hacked", "billing_day": "2"}).status_code == 403
    tenant.merchant.refresh_from_db()
    assert tenant.merchant.name == "Acme Cloud"
