"""REST routes of metering: POST /events, POST /events/batch, GET /events (SPEC §8, docs/metering.md).

Ingestion skips DRF parsing and serializers on purpose: the body is decoded
once with ``json.loads`` and validated with plain code in
``metering.services``; errors keep the API's one shape.
"""

import json

from django.conf import settings
from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from atlas.api.exceptions import PayloadTooLarge
from atlas.api.pagination import CursorPagination
from atlas.api.viewsets import MerchantGenericView
from metering import selectors
from metering.models import Event
from metering.serializers import (
    BatchReportSerializer,
    EventBatchInputSerializer,
    EventInputSerializer,
    EventSerializer,
    IngestStatusSerializer,
)
from metering.services import events_ingest, parse_timestamp


class EventCursorPagination(CursorPagination):
    """The project's pagination, on the ``(merchant, timestamp, id)`` index: newest first."""

    ordering = ("-timestamp", "-id")


def _json_body(request):
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationError({"body": "must be a JSON document"})


def _timestamp_param(request, name: str):
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise ValidationError({name: str(exc)})


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
            customer=request.query_params.get("customer") or None,
            code=request.query_params.get("code") or None,
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
        payload = _json_body(request)
        if not isinstance(payload, dict):
            raise ValidationError({"body": "must be a JSON object (one event)"})
        outcome = events_ingest(merchant=self.merchant, payloads=[payload]).results[0]
        if outcome.status == "rejected":
            raise ValidationError(outcome.errors)
        if outcome.status == "duplicate":
            return Response({"status": "duplicate"}, status=status.HTTP_200_OK)
        return Response({"status": "accepted"}, status=status.HTTP_202_ACCEPTED)


class EventBatchView(MerchantGenericView):
    queryset = Event.objects.all()

    @extend_schema(request=EventBatchInputSerializer, responses=BatchReportSerializer)
    def post(self, request):
        payload = _json_body(request)
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
        result = events_ingest(merchant=self.merchant, payloads=events)
        return Response(result.as_dict(prefix="events"), status=status.HTTP_200_OK)


urlpatterns = [
    re_path(r"^events/batch/?$", EventBatchView.as_view(), name="event-batch"),
    re_path(r"^events/?$", EventsView.as_view(), name="events"),
]
