"""Refuse hostile text in the URL before any view, form or query sees it (the rule: ``atlas.text``).

A NUL character, a lone surrogate or invalid UTF-8 in any query-string parameter (name or value), a NUL
in the path, or a NUL in a cockpit form field, is a 400: the API's JSON error shape under ``/api/``
naming the parameter (``path`` for the path), a plain 400 page elsewhere. Without it, ``?search=a%00b``
or ``/api/v1/customers/a%00b`` reached PostgreSQL and answered 500.
"""

from django.http import HttpResponseBadRequest
from django.template.loader import render_to_string

from atlas import text
from atlas.api.exceptions import error_body, json_response

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class HostileInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where = self._problem(request)
        if where is None:
            return self.get_response(request)
        field, reason = where
        if request.path_info.startswith("/api/"):
            message = f"Invalid input: {field}: {reason}"
            return json_response(error_body(400, message, {field: reason}), 400)
        page = render_to_string("400.html", {"field": field, "reason": reason}, request=None)
        return HttpResponseBadRequest(page)

    @staticmethod
    def _problem(request) -> tuple[str, str] | None:
        reason = text.path_problem(request.path_info)
        if reason:
            return "path", reason
        where = text.query_problem(request.META.get("QUERY_STRING", ""))
        if where:
            return where
        if request.method in UNSAFE_METHODS and not request.path_info.startswith("/api/"):
            # Cockpit forms: the CSRF middleware reads the body next anyway. (The API's bodies are the parsers'.)
            for name, values in request.POST.lists():
                for value in (name, *values):
                    reason = text.problem(value)
                    if reason:
                        return text.printable(name), reason
        return None
