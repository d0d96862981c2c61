"""One error shape for the whole API: ``{"error": {"type", "message", "fields"}}``."""

import json

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request is too large."
    default_code = "payload_too_large"


def body_too_large(limit: int) -> PayloadTooLarge:
    """A 413 naming the body size limit that was passed."""
    return PayloadTooLarge(f"The request body is larger than {limit:,} bytes.")


TYPES = {
    400: "validation_error",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def flatten_errors(detail, prefix: str = "") -> dict[str, str]:
    """Turn DRF's nested error detail into ``{"charges[0].tiers[1].up_to": "reason"}``."""
    if isinstance(detail, dict):
        out: dict[str, str] = {}
        for key, value in detail.items():
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                path = f"{prefix}[{key}]"  # DRF reports list items of nested serializers by index
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                path = prefix or "non_field_errors"
            out.update(flatten_errors(value, path))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return {prefix or "non_field_errors": " ".join(str(item) for item in detail)} if detail else {}
        out = {}
        for index, item in enumerate(detail):
            if item:
                out.update(flatten_errors(item, f"{prefix}[{index}]"))
        return out
    return {prefix or "non_field_errors": str(detail)}


def error_body(status_code: int, message: str, fields: dict | None = None, type_: str | None = None) -> dict:
    return {
        "error": {
            "type": type_ or TYPES.get(status_code, "error"),
            "message": message,
            "fields": fields or {},
        }
    }


def _message_for(exc: exceptions.APIException, fields: dict[str, str]) -> str:
    if isinstance(exc, exceptions.ValidationError):
        if not fields:
            return "Invalid input."
        first = next(iter(fields.items()))
        more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
        return f"Invalid input: {first[0]}: {first[1]}{more}"
    detail = exc.detail
    if isinstance(detail, list | dict):
        return "; ".join(flatten_errors(detail).values())
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, ObjectDoesNotExist | Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):  # Django's limit on reading the body (else its HTML 400)
        exc = body_too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    fields = flatten_errors(exc.detail) if isinstance(exc, exceptions.ValidationError) else {}
    body = error_body(response.status_code, _message_for(exc, fields), fields)
    return Response(body, status=response.status_code, headers=_kept_headers(response))


def _kept_headers(response) -> dict:
    return {name: response[name] for name in ("WWW-Authenticate", "Allow", "Retry-After") if response.has_header(name)}


def api_not_found(request, exception=None):
    return JsonResponse(error_body(404, "Not found."), status=404)


def api_server_error(request):
    return JsonResponse(error_body(500, "Internal server error.", type_="server_error"), status=500)


def json_response(body, status_code: int = 200, headers: dict | None = None) -> HttpResponse:
    """A JSON response rendered as the API's renderer renders it (compact, UTF-8), without DRF's request cycle."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return HttpResponse(content, status=status_code, content_type="application/json", headers=headers)


def error_response(exc: exceptions.APIException, headers: dict | None = None) -> HttpResponse:
    """The API's error shape for ``exc``, for the few endpoints that answer outside DRF's views."""
    fields = flatten_errors(exc.detail) if isinstance(exc, exceptions.ValidationError) else {}
    return json_response(error_body(exc.status_code, _message_for(exc, fields), fields), exc.status_code, headers)
