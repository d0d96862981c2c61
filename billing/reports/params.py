"""Query-string parameters of the finance reports (receivables, journal, statements): dates and formats.

Every bad value is a 400 naming its parameter (``as_of``, ``from``, ``to``, ``format``), never a 500.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation

EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
MAX_SPAN_DAYS = 3660  # ten years in one request


def day_start(day: date, timezone: str) -> datetime:
    """Local midnight at the start of ``day`` in the merchant's time zone."""
    return datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(timezone))


def today(timezone: str) -> date:
    return datetime.now(ZoneInfo(timezone)).date()


def date_param(params, name: str, default: date) -> date:
    """``YYYY-MM-DD`` from 2000 to 2100; missing or empty gives ``default``."""
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        if len(raw) != 10:
            raise ValueError
        value = date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({name: "must be a date as YYYY-MM-DD"}) from None
    if not EARLIEST <= value <= LATEST:
        raise ValidationError({name: "must be a date from 2000-01-01 to 2100-12-31"})
    return value


def span_params(params, *, default_start: date, default_end: date) -> tuple[date, date]:
    """``from`` and ``to``, both inclusive; ``to`` not before ``from``, at most ten years apart."""
    start = date_param(params, "from", default_start)
    end = date_param(params, "to", default_end)
    if end < start:
        raise ValidationError({"to": "must not be before from"})
    if (end - start).days > MAX_SPAN_DAYS:
        raise ValidationError({"to": "at most ten years after from"})
    return start, end


def form_date_in_range(value: date | None) -> None:
    """The cockpit forms' rule for a date: the same years as the API."""
    from django import forms

    if value is not None and not EARLIEST <= value <= LATEST:
        raise forms.ValidationError("must be from 2000-01-01 to 2100-12-31")


def format_param(params, choices: tuple[str, ...]) -> str:
    value = params.get("format", "") or choices[0]
    if value not in choices:
        raise ValidationError({"format": f"must be one of {', '.join(choices)}"})
    return value


class FormatIsAParameter(DefaultContentNegotiation):
    """``?format=`` names the report's file format (csv, xlsx, pdf), which the view answers itself; DRF must not
    read it as a renderer suffix (it would answer 404 for ``csv``)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def date_parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, str, description=description + " (YYYY-MM-DD)")


def format_parameter(choices: tuple[str, ...]) -> OpenApiParameter:
    return OpenApiParameter("format", str, enum=list(choices), description=f"default {choices[0]}")
