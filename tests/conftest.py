import pytest
from rest_framework.test import APIClient

from atlas.services import merchant_create


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Tenant:
    """A merchant with its admin user, an API key and an API client using it."""

    def __init__(self, name: str, email: str, **merchant_settings):
        self.merchant, self.user, self.key = merchant_create(
            name=name, email=email, password="correct-horse-battery", **merchant_settings
        )
        self.api = APIClient()
        self.api.credentials(HTTP_AUTHORIZATION=f"Bearer {self.key}")


@pytest.fixture
def tenant(db) -> Tenant:
    return Tenant("Acme Cloud", "owner@acme.test")


@pytest.fixture
def other_tenant(db) -> Tenant:
    return Tenant("Globex", "owner@globex.test")


@pytest.fixture
def api(tenant) -> APIClient:
    return tenant.api
