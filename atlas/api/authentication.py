"""Bearer API-key authentication for the REST API."""

from datetime import timedelta
from functools import cache

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from atlas import db
from atlas.models import ApiKey, Merchant

# Writing last_used_at on every request would add a write to the ingestion hot
# path; once a minute is precise enough for "last used" and costs nothing.
LAST_USED_PRECISION = timedelta(seconds=60)


_KEY = db.Select(("k", ApiKey, None), ("m", Merchant, None))


@cache
def _key_lookup_sql() -> str:
    return (
        f"SELECT {_KEY.columns()} FROM {ApiKey._meta.db_table} k "
        f"JOIN {Merchant._meta.db_table} m ON m.id = k.merchant_id WHERE k.hashed_key = %s"
    )


def api_key_for_secret(secret: str) -> ApiKey | None:
    """The key (revoked or not) with its merchant, in one prepared query: every API request runs it."""
    found = db.row(_key_lookup_sql(), [ApiKey.hash(secret)])
    if found is None:
        return None
    key, key.merchant = _KEY.instances(found)
    return key


class ApiClient:
    """The principal behind an API key (``request.user`` for API requests)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.merchant = api_key.merchant

    def __str__(self) -> str:
        return f"api key {self.api_key.prefix}…"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        try:
            parts = header.decode("ascii").split()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The Authorization header must be ASCII.")
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        secret = parts[1]
        key = api_key_for_secret(secret)
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown API key.")
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        request.merchant = key.merchant
        return ApiClient(key), key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="atlas"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "atlas.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An Atlas API key: `Authorization: Bearer atlas_…`"}
