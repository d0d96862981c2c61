"""Writes for a merchant's team: invite staff, change their role, remove them.

Rules: only admins manage the team (the views refuse viewers); a merchant always keeps at least one admin,
so the last admin can be neither demoted nor removed; removing someone ends their sessions and revokes the
API keys they created (SPEC §11.4). Each change is in the audit log (the membership's entries).
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.exceptions import ValidationError

from atlas.models import ApiKey, Membership, Merchant
from atlas.services import api_key_revoke

ROLES = {choice for choice, _ in Membership.Role.choices}


@dataclass(frozen=True)
class Invitation:
    membership: Membership
    link: str


def set_password_link(*, user, base_url: str) -> str:
    """A one-use link to choose a password: Django's password-reset token (invalid once a password is set,
    and after ``PASSWORD_RESET_TIMEOUT``)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return base_url.rstrip("/") + reverse("set-password", kwargs={"uidb64": uid, "token": token})


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationError({"role": f"must be one of {', '.join(sorted(ROLES))}"})


def member_invite(*, merchant: Merchant, email: str, role: str, invited_by, base_url: str) -> Invitation:
    """Create the Atlas login and its membership, and e-mail a link to set a password.

    An address that already has an active Atlas login (here or at another merchant) is refused. If the e-mail
    cannot be sent nothing is kept, and the error says so.
    """
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationError({"email": "enter a valid e-mail address"})
    _check_role(role)
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model.objects.select_for_update().filter(username=email).first()
        if user is not None and (user.is_active or Membership.objects.filter(user=user).exists()):
            raise ValidationError({"email": f"{email} already has an Atlas login"})
        if user is None:
            user = user_model(username=email, email=email)
        user.is_active = True
        user.set_unusable_password()
        user.save()
        membership = Membership.objects.create(user=user, merchant=merchant, role=role)
    link = set_password_link(user=user, base_url=base_url)
    inviter = invited_by.email or invited_by.get_username()
    context = {"merchant": merchant, "link": link, "inviter": inviter, "role": membership.get_role_display(),
               "valid_hours": settings.PASSWORD_RESET_TIMEOUT // 3600}  # fmt: skip
    try:
        send_mail(
            subject=f"You are invited to {merchant.name} on Atlas",
            message=render_to_string("atlas/email/invitation.txt", context),
            from_email=None,
            recipient_list=[email],
        )
    except OSError as exc:  # SMTP errors are OSErrors (smtplib.SMTPException, refused connection, timeout)
        with transaction.atomic():
            membership.delete()
            user.is_active = False
            user.save(update_fields=["is_active"])
        raise ValidationError({"email": f"the invitation could not be sent ({exc.__class__.__name__}); try again"})
    return Invitation(membership=membership, link=link)


def _admins_locked(merchant_id: int) -> list[Membership]:
    # One lock order (by pk) for every team change, so two admins demoting each other cannot both succeed.
    admins = Membership.objects.select_for_update().filter(merchant_id=merchant_id, role=Membership.Role.ADMIN)
    return list(admins.order_by("pk"))


@transaction.atomic
def member_role_change(*, membership: Membership, role: str) -> Membership:
    """Make a member an admin or a viewer; the last admin stays an admin."""
    _check_role(role)
    admins = _admins_locked(membership.merchant_id)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == role:
        return membership
    if membership.role == Membership.Role.ADMIN and len(admins) <= 1:
        raise ValidationError({"role": "the last admin cannot be made a viewer; make someone else an admin first"})
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(*, membership: Membership, at=None) -> int:
    """Remove a member: their login is disabled, every session of theirs ends, their API keys are revoked.

    Returns the number of API keys revoked. The user row stays (inactive), so the audit log and the keys still
    name who acted; inviting the same address again brings the login back.
    """
    admins = _admins_locked(membership.merchant_id)
    membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    if membership.role == Membership.Role.ADMIN and len(admins) <= 1:
        raise ValidationError({"member": "the last admin cannot be removed; make someone else an admin first"})
    user = membership.user
    at = at or timezone.now()
    keys = list(ApiKey.objects.active().filter(merchant_id=membership.merchant_id, created_by=user).order_by("pk"))
    for key in keys:
        api_key_revoke(key=key, at=at)
    membership.delete()
    # A new unusable password changes the session hash: every session of this user is refused from now on
    # (django.contrib.auth checks it on each request); inactive users cannot log in again.
    user.set_unusable_password()
    user.is_active = False
    user.save(update_fields=["password", "is_active"])
    _end_sessions(user)
    return len(keys)


def _end_sessions(user) -> None:
    """Delete the user's stored sessions too (database sessions), not just invalidate them."""
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return
    stale = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if str(session.get_decoded().get(SESSION_KEY)) == str(user.pk)
    ]
    Session.objects.filter(pk__in=stale).delete()
