"""Login throttling with django-axes: the authentication backend and the locked-out login page.

The rule (README, "Login throttling"): after ``AXES_FAILURE_LIMIT`` failed logins for one account or
from one address within ``AXES_COOLOFF_TIME``, every login for that account or from that address is
refused for ``AXES_COOLOFF_TIME``, the right password included. It covers the cockpit's login page
and the Django admin's (both authenticate with the request).
"""

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render


class AxesBackend(AxesStandaloneBackend):
    """django-axes' check, for logins that come with an HTTP request.

    ``authenticate()`` without a request (the test client's ``login()``, a shell) has no address and
    no attacker on the other end of a connection: it goes straight to the next backend, where
    django-axes' own backend would raise ``AxesBackendRequestParameterRequired``.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_message(request) -> str:
    minutes = int(get_cool_off(request).total_seconds() // 60)
    return (
        f"Too many failed logins for this account or from this address. Logins are refused for {minutes} minutes "
        "after the last failed attempt, even with the right password; try again later."
    )


def locked_out(request, response=None, credentials=None):
    """The login page again, with the reason and no way to submit past it (HTTP 429)."""
    form = AuthenticationForm(request, initial={"username": (credentials or {}).get("username", "")})
    context = {"form": form, "locked_out_message": lockout_message(request), "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)
