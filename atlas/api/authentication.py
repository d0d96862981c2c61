"""Bearer API-key authentication for the REST API."""

import time
from datetime import timedelta
from functools import cache

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from atlas import db
from atlas.audit import context as audit_context
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


KEYWORD = "Bearer"
NO_CREDENTIALS = "Authentication credentials were not provided."
UNKNOWN_KEY = "Unknown API key."
REVOKED_KEY = "This API key has been revoked."


def bearer_secret(header: bytes) -> str:
    """The secret of an ``Authorization: Bearer <secret>`` header; AuthenticationFailed says what is wrong."""
    try:
        parts = header.decode("ascii").split()
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed("The Authorization header must be ASCII.")
    if len(parts) != 2 or parts[0].lower() != KEYWORD.lower():
        raise exceptions.AuthenticationFailed(f"Use 'Authorization: {KEYWORD} <api key>'.")
    return parts[1]


def www_authenticate() -> str:
    return f'{KEYWORD} realm="atlas"'


def _touch(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def authenticate_secret(secret: str) -> ApiKey:
    """The unrevoked key of ``secret`` with its merchant (one prepared query); AuthenticationFailed otherwise."""
    key = api_key_for_secret(secret)
    if key is None:
        raise exceptions.AuthenticationFailed(UNKNOWN_KEY)
    if key.revoked_at is not None:
        raise exceptions.AuthenticationFailed(REVOKED_KEY)
    _touch(key)
    return key


class KeyCache:
    """This process's recently authenticated keys, for the ingestion endpoints only.

    A hit costs no query: the caller must confirm the key in the transaction that
    uses it (``events_ingest(keys=...)``), so a key revoked or deleted a moment ago
    is still refused, exactly as with a fresh look-up, and then evicted. Entries are
    re-read after ``ttl`` seconds (the merchant too); the cache is bounded.
    """

    def __init__(self, ttl: float = 60.0, size: int = 1000):
        self.ttl, self.size = ttl, size
        self._keys: dict[str, tuple[ApiKey, float]] = {}

    def authenticate(self, secret: str) -> tuple[ApiKey, bool]:
        """The key of ``secret`` and whether it came from the cache (then it must be confirmed)."""
        digest = ApiKey.hash(secret)
        found = self._keys.get(digest)
        if found is not None and time.monotonic() - found[1] < self.ttl:
            key = found[0]
            _touch(key)
            return key, True
        key = authenticate_secret(secret)
        if len(self._keys) >= self.size:
            self._keys.clear()
        self._keys[digest] = (key, time.monotonic())
        return key, False

    def evict(self, key: ApiKey) -> None:
        self._keys.pop(key.hashed_key, None)

    def clear(self) -> None:
        self._keys.clear()


INGEST_KEYS = KeyCache()


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = KEYWORD

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        key = authenticate_secret(bearer_secret(header))
        request.merchant = key.merchant
        # DRF authenticates inside the view, after every middleware: the audit log learns the actor here.
        audit_context.name_api_key(key)
        return ApiClient(key), key

    def authenticate_header(self, request):
        return www_authenticate()


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "atlas.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An Atlas API key: `Authorization: Bearer atlas_…`"}
