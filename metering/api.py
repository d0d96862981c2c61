"""REST routes of metering: POST /events, POST /events/batch, GET /events (SPEC §8, docs/metering.md).

Ingestion is the API's busiest path, so its POSTs skip DRF's request cycle:
the body is decoded once with ``json.loads`` and validated with plain code in
``metering.ingestion.validation``, the API key comes from this process's key cache and is
confirmed inside the ingest transaction, and single events are committed in
groups (``metering.grouping``). Answers keep the API's one shape. The DRF view
classes still define these POSTs (the OpenAPI schema reads them, and they call
the same functions); the routes send other methods to them.
"""

import json

from django.conf import settings
from django.urls import re_path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.exceptions import ValidationError

from atlas.api.authentication import (
    INGEST_KEYS,
    NO_CREDENTIALS,
    REVOKED_KEY,
    UNKNOWN_KEY,
    bearer_secret,
    www_authenticate,
)
from atlas.api.exceptions import PayloadTooLarge, body_too_large, error_response, json_response
from atlas.api.pagination import CursorPagination
from atlas.api.viewsets import MerchantGenericView
from atlas.models import ApiKey
from metering import selectors
from metering.grouping import SINGLE_EVENTS
from metering.ingestion.keys import KeysNotCurrent
from metering.ingestion.validation import BATCH_MAX_BODY_BYTES, parse_timestamp, validate_event
from metering.models import Event
from metering.serializers import (
    BatchReportSerializer,
    EventBatchInputSerializer,
    EventInputSerializer,
    EventSerializer,
    IngestStatusSerializer,
)
from metering.services import events_ingest

_ANSWERS = {"accepted": (202, {"status": "accepted"}), "duplicate": (200, {"status": "duplicate"})}


def _json_body(request, limit: int | None):
    """The decoded JSON body; a 413 naming ``limit`` (bytes) when the body is larger, before reading it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0  # as Django reads it: the body is then empty
    if limit is not None and length > limit:
        raise body_too_large(limit)
    try:
        return json.loads(request.read())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationError({"body": "must be a JSON document"})


def _refused(key: ApiKey) -> exceptions.AuthenticationFailed:
    """The key was revoked or deleted since it was authenticated (from this process's cache, or a moment ago)."""
    INGEST_KEYS.evict(key)
    return exceptions.AuthenticationFailed(REVOKED_KEY if ApiKey.objects.filter(pk=key.pk).exists() else UNKNOWN_KEY)


def ingest_event(request, key: ApiKey, confirm: bool = False):
    """One event: 202 accepted, 200 duplicate, 400 naming the field. Committed (in a group) before answering.

    ``confirm``: the key came from the cache; the ingest transaction confirms it is still current.
    """
    payload = _json_body(request, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if not isinstance(payload, dict):
        raise ValidationError({"body": "must be a JSON object (one event)"})
    row, errors = validate_event(payload, timezone.now())
    if row is None:
        raise ValidationError(errors)
    item = SINGLE_EVENTS.submit(key.merchant, row, key if confirm else None)
    if not item.key_current:
        raise _refused(key)
    outcome = item.result
    if outcome.status == "rejected":
        raise ValidationError(outcome.errors)
    status_code, body = _ANSWERS[outcome.status]
    return json_response(body, status_code)


def ingest_batch(request, key: ApiKey, confirm: bool = False):
    """Up to 1,000 events: 200 with a report by index; 413 over the limit, storing nothing."""
    payload = _json_body(request, BATCH_MAX_BODY_BYTES)
    if not isinstance(payload, dict):
        raise ValidationError({"body": 'must be a JSON object: {"events": [...]}'})
    events = payload.get("events")
    if events is None:
        raise ValidationError({"events": "is required"})
    if not isinstance(events, list):
        raise ValidationError({"events": "must be a list of events"})
    if not events:
        raise ValidationError({"events": "must not be empty"})
    limit = settings.ATLAS_BATCH_MAX_EVENTS
    if len(events) > limit:
        raise PayloadTooLarge(f"A batch holds at most {limit} events; this one has {len(events)}.")
    try:
        result = events_ingest(merchant=key.merchant, payloads=events, keys={key.pk} if confirm else ())
    except KeysNotCurrent:
        raise _refused(key)
    return json_response(result.as_dict(prefix="events"))


def _ingest_route(handler, drf_view):
    """POST answered by ``handler`` with a cached key confirmed in the ingest transaction; other methods by
    the DRF view (which the schema generator introspects through ``cls``)."""

    @csrf_exempt
    def view(request, *args, **kwargs):
        if request.method != "POST":
            return drf_view(request, *args, **kwargs)
        header = request.META.get("HTTP_AUTHORIZATION", "")
        try:
            if not header:
                raise exceptions.NotAuthenticated(NO_CREDENTIALS)
            key, cached = INGEST_KEYS.authenticate(bearer_secret(header.encode("iso-8859-1")))
            return handler(request, key, confirm=cached)
        except exceptions.APIException as exc:
            headers = {"WWW-Authenticate": www_authenticate()} if exc.status_code == 401 else None
            return error_response(exc, headers)

    view.cls, view.initkwargs = drf_view.cls, drf_view.initkwargs
    return view


class EventCursorPagination(CursorPagination):
    """The project's pagination, on the ``(merchant, timestamp, id)`` index: newest first."""

    ordering = ("-timestamp", "-id")


def _timestamp_param(request, name: str):
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise ValidationError({name: str(exc)})


def _text_param(request, name: str) -> str | None:
    """A filter compared with stored text: NUL can never match (and PostgreSQL refuses it in a query)."""
    value = request.query_params.get(name) or None
    if value is not None and "\x00" in value:
        raise ValidationError({name: "must not contain NUL characters"})
    return value


class EventsView(MerchantGenericView):
    queryset = Event.objects.all()
    serializer_class = EventSerializer
    pagination_class = EventCursorPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("customer", OpenApiTypes.STR, description="A customer's external_id"),
            OpenApiParameter("code", OpenApiTypes.STR),
            OpenApiParameter("from", OpenApiTypes.STR, description="Timestamps at or after (ISO 8601 or epoch)"),
            OpenApiParameter("to", OpenApiTypes.STR, description="Timestamps before (ISO 8601 or epoch)"),
        ],
        responses=EventSerializer(many=True),
    )
    def get(self, request):
        events = selectors.events_list(
            merchant=self.merchant,
            customer=_text_param(request, "customer"),
            code=_text_param(request, "code"),
            start=_timestamp_param(request, "from"),
            end=_timestamp_param(request, "to"),
            events=self.get_queryset(),
        )
        page = self.paginate_queryset(events)
        return self.get_paginated_response(EventSerializer(page, many=True).data)

    @extend_schema(
        request=EventInputSerializer,
        responses={202: IngestStatusSerializer, 200: IngestStatusSerializer},
    )
    def post(self, request):
        return ingest_event(request, request.auth)


class EventBatchView(MerchantGenericView):
    queryset = Event.objects.all()
    serializer_class = EventBatchInputSerializer  # what OPTIONS describes (the POST itself validates by hand)

    @extend_schema(request=EventBatchInputSerializer, responses=BatchReportSerializer)
    def post(self, request):
        return ingest_batch(request, request.auth)


urlpatterns = [
    re_path(r"^events/batch/?$", _ingest_route(ingest_batch, EventBatchView.as_view()), name="event-batch"),
    re_path(r"^events/?$", _ingest_route(ingest_event, EventsView.as_view()), name="events"),
]
