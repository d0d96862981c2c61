"""Password guessing (django-axes): 10 failures lock the account and the address for 15 minutes."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessAttemptExpiration
from django.utils import timezone

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
LOCKED = (
    "Too many failed logins for this account or from this address. Logins are refused for 15 minutes after the "
    "last failed attempt, even with the right password; try again later."
)


def login(client, username, password, ip="10.0.0.1", path="/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(client, username, times, ip="10.0.0.1", path="/login/"):
    """``times`` wrong passwords: the form answers each again (200), the 10th the locked-out page (429)."""
    for attempt in range(1, times + 1):
        assert login(client, username, "wrong-password", ip, path).status_code == (429 if attempt >= 10 else 200)


def test_ten_failures_then_the_right_password_is_refused_with_the_message(client, tenant):
    username = tenant.user.username
    fail(client, username, 10)
    response = login(client, username, PASSWORD)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert '<form method="post">' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_nine_failures_then_the_right_password_logs_in(client, tenant):
    fail(client, tenant.user.username, 9)
    response = login(client, tenant.user.username, PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(tenant.user.pk)


def test_the_account_is_locked_from_every_address(client, tenant):
    fail(client, tenant.user.username, 10, ip="10.0.0.1")
    response = login(client, tenant.user.username, PASSWORD, ip="10.9.9.9")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()


def test_an_address_guessing_many_accounts_is_locked(client, tenant):
    for number in range(10):
        assert login(client, f"guess{number}", "wrong-password", ip="10.0.0.66").status_code == (
            429 if number == 9 else 200
        )
    response = login(client, tenant.user.username, PASSWORD, ip="10.0.0.66")
    assert response.status_code == 429
    assert login(client, tenant.user.username, PASSWORD, ip="10.0.0.2").status_code == 302


def test_after_the_cool_off_the_right_password_works(client, tenant):
    fail(client, tenant.user.username, 10)
    assert login(client, tenant.user.username, PASSWORD).status_code == 429
    # Travel 15 minutes forward: the stored attempts are as old as the cool-off.
    past = timezone.now() - timedelta(minutes=15, seconds=1)
    AccessAttempt.objects.update(attempt_time=past)
    AccessAttemptExpiration.objects.update(expires_at=past)
    response = login(client, tenant.user.username, PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(tenant.user.pk)


def test_the_admin_login_is_throttled_too(client, tenant):
    tenant.user.is_staff = True
    tenant.user.save()
    fail(client, tenant.user.username, 10, path="/admin/login/")
    response = login(client, tenant.user.username, PASSWORD, path="/admin/login/")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()


def test_logins_without_a_request_are_not_throttled(client, tenant):
    fail(client, tenant.user.username, 10)
    # The test client's login() authenticates without a request: nothing to throttle (and no attacker).
    assert client.login(username=tenant.user.username, password=PASSWORD)
