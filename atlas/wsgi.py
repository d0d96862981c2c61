"""The WSGI application: Django's handler, with a short path for event ingestion.

``POST /api/v1/events`` and ``POST /api/v1/events/batch`` are the API's busiest
requests by far. Django's full middleware chain and URL resolution cost about
five times what the ingestion view itself costs in Python, and none of that
middleware does anything for them (no session, cookie, CSRF or cockpit user:
the views are CSRF-exempt and authenticate by API key). :class:`AtlasWSGIHandler`
answers exactly those two POSTs with the resolved view wrapped only in what
still applies to them: Django's ``request_started`` / ``request_finished``
signals (which manage database connections), the ``ALLOWED_HOSTS`` check, the
security and clickjacking headers (``SecurityMiddleware``,
``XFrameOptionsMiddleware``), ``Content-Length``, Django's conversion of
exceptions into responses (logged, ``handler500``) and its logging of 4xx/5xx.
Every other request goes through Django as usual.
"""

import os

import django
from django.core import signals
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler, get_script_name
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import resolve, set_script_prefix
from django.utils.log import log_response

FAST_PATHS = ("/api/v1/events", "/api/v1/events/", "/api/v1/events/batch", "/api/v1/events/batch/")


def _checked_host(view):
    def check(request):
        request.get_host()  # DisallowedHost (a 400) unless ALLOWED_HOSTS admits it, as CommonMiddleware checks
        return view(request)

    return check


class AtlasWSGIHandler(WSGIHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fast: dict | None = None

    def fast_views(self) -> dict:
        """{path: the resolved view in its short middleware chain}, built on first use (URLconf loaded)."""
        if self._fast is None:
            self._fast = {}
            for path in FAST_PATHS:
                match = resolve(path)
                chain = convert_exception_to_response(_checked_host(match.func))
                for middleware in (XFrameOptionsMiddleware, SecurityMiddleware):
                    chain = convert_exception_to_response(middleware(chain))
                self._fast[path] = chain
        return self._fast

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            view = self.fast_views().get(environ.get("PATH_INFO"))
            if view is not None:
                return self._answer(view, environ, start_response)
        return super().__call__(environ, start_response)

    def _answer(self, view, environ, start_response):
        set_script_prefix(get_script_name(environ))
        signals.request_started.send(sender=self.__class__, environ=environ)
        request = self.request_class(environ)
        response = view(request)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        if not response.has_header("Content-Length"):  # as CommonMiddleware sets it: no chunked framing
            response.headers["Content-Length"] = str(len(response.content))
        response._handler_class = self.__class__
        response._resource_closers.append(request.close)
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return response  # the server's close() sends request_finished


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atlas.settings")
django.setup(set_prefix=False)
application = AtlasWSGIHandler()
