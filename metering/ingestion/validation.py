"""Event payloads checked with plain code (this is the hot path: no DRF serializer per event).

``validate_event`` turns one payload into an ``EventRow`` ready to store, or into
``{field: reason}``. Nothing here touches the database. The rules are the table in
docs/metering.md, "Ingestion".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

MAX_ID_LENGTH = 255
_EPOCH_PATTERN = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class EventRow:
    """One validated event, ready to store; ``index`` is its position in the request (or group)."""

    index: int
    transaction_id: str
    customer: str
    code: str
    timestamp: datetime
    properties: dict
    subscription: str
    received_at: datetime


def _string(payload: dict, name: str, errors: dict, *, required: bool) -> str:
    value = payload.get(name)
    if value is None or (not required and value == ""):
        if required:
            errors[name] = "is required"
        return ""
    if not isinstance(value, str):
        errors[name] = "must be a string"
        return ""
    if not value.strip():
        errors[name] = "must not be empty"
    elif len(value) > MAX_ID_LENGTH:
        errors[name] = f"must be at most {MAX_ID_LENGTH} characters"
    elif "\x00" in value:
        errors[name] = "must not contain NUL characters"
    return value


def _epoch(seconds: float | int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def parse_timestamp(value) -> datetime:
    """ISO 8601 (an offset-less time is UTC) or epoch seconds, as an aware UTC datetime; ValueError says why."""
    if isinstance(value, bool):
        raise ValueError("must be an ISO 8601 string or epoch seconds")
    try:
        if isinstance(value, int | float):
            if not math.isfinite(value):
                raise ValueError("must be a finite number of epoch seconds")
            instant = _epoch(value)
        elif isinstance(value, str):
            text = value.strip()
            if _EPOCH_PATTERN.match(text):
                instant = _epoch(float(text) if "." in text else int(text))
            else:
                instant = datetime.fromisoformat(text)
                if instant.tzinfo is None:
                    instant = instant.replace(tzinfo=UTC)
                instant = instant.astimezone(UTC)
        else:
            raise ValueError("must be an ISO 8601 string or epoch seconds")
    except (OverflowError, OSError):
        raise ValueError("is out of range") from None
    except ValueError as exc:
        if "epoch" in str(exc) or "ISO 8601" in str(exc):
            raise
        raise ValueError(f"{value!r} is not an ISO 8601 timestamp or epoch seconds") from None
    if instant < _EARLIEST:
        raise ValueError("must not be before 1970-01-01T00:00:00Z")
    return instant


def _properties(value, errors: dict) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors["properties"] = "must be an object"
        return {}
    for key, item in value.items():
        path = f"properties.{key}"
        if "\x00" in key:
            errors["properties"] = "property names must not contain NUL characters"
        elif isinstance(item, dict | list):
            errors[path] = "must be a string, number or boolean: nested values are not allowed"
        elif item is None:
            errors[path] = "must be a string, number or boolean, not null"
        elif isinstance(item, float) and not math.isfinite(item):
            errors[path] = "must be a finite number"
        elif isinstance(item, str) and ("\x00" in item or "\x1f" in item):
            errors[path] = "must not contain NUL or unit-separator characters"
        elif not isinstance(item, str | int | float | bool):
            errors[path] = "must be a string, number or boolean"
    return value


def latest_allowed(received_at: datetime) -> datetime:
    """The latest event timestamp accepted at ``received_at``."""
    return received_at + timedelta(seconds=settings.ATLAS_EVENT_FUTURE_TOLERANCE_SECONDS)


def validate_event(
    payload, received_at: datetime, index: int = 0, latest: datetime | None = None
) -> tuple[EventRow | None, dict[str, str]]:
    """One event payload checked with plain code: (row, {}) or (None, {field: reason})."""
    if not isinstance(payload, dict):
        return None, {"": "must be an object"}
    errors: dict[str, str] = {}
    transaction_id = _string(payload, "transaction_id", errors, required=True)
    customer = _string(payload, "customer", errors, required=True)
    code = _string(payload, "code", errors, required=True)
    subscription = _string(payload, "subscription", errors, required=False)
    properties = _properties(payload.get("properties"), errors)
    timestamp = received_at
    raw = payload.get("timestamp")
    if raw is not None and raw != "":
        try:
            timestamp = parse_timestamp(raw)
        except ValueError as exc:
            errors["timestamp"] = str(exc)
        else:
            if timestamp > (latest or latest_allowed(received_at)):
                errors["timestamp"] = "must not be more than 5 minutes in the future"
    if errors:
        return None, errors
    return EventRow(index, transaction_id, customer, code, timestamp, properties, subscription, received_at), {}
