import traceback

import pytest
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections


@pytest.fixture
def server_errors():
    """Lets requests through the real WSGI handler (``atlas.wsgi.application``) inside the test's transaction,
    and collects the traceback of every exception a request raised.

    The handler's ``request_started``/``request_finished`` signals close "old" database connections, which
    would close the test's own; Django's test client disconnects them the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    errors: list[str] = []

    def record(sender, request=None, **kwargs):
        errors.append(traceback.format_exc())

    got_request_exception.connect(record)
    yield errors
    got_request_exception.disconnect(record)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
