"""Event payloads checked with plain code (this is the hot path: no DRF serializer per event).

``validate_event`` turns one payload into an ``EventRow`` ready to store, or into
``{field: reason}``. Nothing here touches the database. The rules are the table in
docs/metering.md, "Ingestion".
"""

from __future__ import annotations

import json
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
    properties_json: str  # compact JSON of ``properties``, computed once by validation


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
    elif _unpaired_surrogate(value):
        errors[name] = UNPAIRED_SURROGATE
    return value


UNPAIRED_SURROGATE = "must not contain unpaired surrogates (U+D800 to U+DFFF): they are not Unicode text"
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unpaired_surrogate(text: str) -> bool:
    """JSON's \\u escapes can spell half a UTF-16 pair, which Python keeps and no database can store."""
    return not text.isascii() and _SURROGATE.search(text) is not None  # isascii() is O(1) on CPython


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


# A number billing can hold: bucket sums and time-weighted sums of numeric(38, 10) columns, invoice
# quantities of numeric(30, 10), and every client's doubles (exact integers up to 2**53) all stay exact
# below 10**15 (docs/metering.md, "Numbers").
MAX_NUMBER = 10**15
PROPERTIES_MAX_BYTES = 4096
# The largest event: its properties, four strings of 255 characters of up to 4 UTF-8 bytes, a timestamp and
# the JSON around them come to about 8,400 bytes written compactly; 1,000 of them fit in a batch body with
# room to spare for spaces and \u escapes (docs/metering.md, "Sizes").
BATCH_MAX_BODY_BYTES = 10 * 1024 * 1024
_NOT_FINITE = frozenset({"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})


def _properties(value, errors: dict) -> tuple[dict, str]:
    """The properties and their compact JSON text (what the PostgreSQL store sends), or errors by property."""
    if value is None:
        return {}, "{}"
    if not isinstance(value, dict):
        errors["properties"] = "must be an object"
        return {}, "{}"
    for key, item in value.items():
        if "\x00" in key or _unpaired_surrogate(key):
            errors["properties"] = "property names must not contain NUL characters or unpaired surrogates"
            continue
        path = f"properties.{key}"
        if isinstance(item, str):
            if "\x00" in item or "\x1f" in item:
                errors[path] = "must not contain NUL or unit-separator characters"
            elif _unpaired_surrogate(item):
                errors[path] = UNPAIRED_SURROGATE
            elif len(item) < 10 and item.strip().lower() in _NOT_FINITE:
                errors[path] = "must be a finite number: NaN and Infinity cannot be billed"
        elif isinstance(item, bool):
            pass
        elif isinstance(item, int | float):
            if isinstance(item, float) and not math.isfinite(item):
                errors[path] = "must be a finite number"
            elif not -MAX_NUMBER < item < MAX_NUMBER:
                errors[path] = "must be a number between -10^15 and 10^15 (exclusive): larger values cannot be billed"
        elif isinstance(item, dict | list):
            errors[path] = "must be a string, number or boolean: nested values are not allowed"
        elif item is None:
            errors[path] = "must be a string, number or boolean, not null"
        else:
            errors[path] = "must be a string, number or boolean"
    if errors:
        return value, "{}"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text) > PROPERTIES_MAX_BYTES or (not text.isascii() and len(text.encode()) > PROPERTIES_MAX_BYTES):
        errors["properties"] = f"must be at most {PROPERTIES_MAX_BYTES:,} bytes as compact JSON (UTF-8)"
    return value, text


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
    properties, properties_json = _properties(payload.get("properties"), errors)
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
    fields = (transaction_id, customer, code, timestamp, properties, subscription, received_at, properties_json)
    return EventRow(index, *fields), {}
