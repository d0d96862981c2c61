"""Who is making the changes being written now: the audit log's actor.

A request runs in its own context: :class:`AuditActorMiddleware` installs a :class:`RequestActor` whose
``user`` is the logged-in staff user (cockpit, Django admin); for the API, DRF authenticates inside the
view, so :class:`atlas.api.authentication.ApiKeyAuthentication` names the API key on the same object once it
knows it. Outside a request (commands, the nightly run, django-q2 tasks) the actor is the system, or what
:func:`acting_as` says.
"""

import contextlib
from contextvars import ContextVar

SYSTEM = "system"


class RequestActor:
    """The actor of the changes being made: an API key, else a staff user, else the system.

    Given the request, the user is read from it only when a change is recorded, so a request that changes
    nothing (the API's hot path among them) never loads a session for it.
    """

    def __init__(self, *, user=None, api_key=None, remote_addr: str | None = None, system_label: str = SYSTEM,
                 request=None):  # fmt: skip
        self._user, self._request = user, request
        self.api_key = api_key  # atlas.models.ApiKey
        self.remote_addr = remote_addr
        self.system_label = system_label

    @property
    def user(self):
        if self.api_key is not None:
            return None
        if self._user is None and self._request is not None:
            user = getattr(self._request, "user", None)
            self._user = user if user is not None and getattr(user, "is_authenticated", False) else None
            self._request = None
        # An API request's principal (ApiClient) is no staff user.
        return self._user if hasattr(self._user, "get_username") else None

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"api key {self.api_key.name} ({self.api_key.prefix}…)"
        if self.user is not None:
            return f"user {self.user.get_username()}"
        return self.system_label


_actor: ContextVar[RequestActor | None] = ContextVar("atlas_audit_actor", default=None)


def current_actor() -> RequestActor:
    return _actor.get() or RequestActor()


@contextlib.contextmanager
def acting_as(*, user=None, api_key=None, remote_addr: str | None = None, system_label: str = SYSTEM):
    """Attribute the changes made inside the block (``acting_as(system_label="csv import")`` for a command)."""
    token = _actor.set(RequestActor(user=user, api_key=api_key, remote_addr=remote_addr, system_label=system_label))
    try:
        yield _actor.get()
    finally:
        _actor.reset(token)


def name_api_key(api_key) -> None:
    """Called by the API's authentication: this request's changes are the key's."""
    actor = _actor.get()
    if actor is not None:
        actor.api_key = api_key


def merchant_id_of(instance) -> int | None:
    """The merchant an audited object belongs to (the merchant itself, or through its plan version)."""
    if instance._meta.label == "atlas.Merchant":
        return instance.pk
    merchant_id = getattr(instance, "merchant_id", None)
    if merchant_id is not None:
        return merchant_id
    version = getattr(instance, "plan_version", None)  # charges, plan features, one-time fees
    return getattr(version, "merchant_id", None)


class AuditActorMiddleware:
    """Install this request's actor (the logged-in user, if any) for the audit log; after authentication."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        actor = RequestActor(request=request, remote_addr=request.META.get("REMOTE_ADDR") or None)
        token = _actor.set(actor)
        try:
            return self.get_response(request)
        finally:
            _actor.reset(token)
