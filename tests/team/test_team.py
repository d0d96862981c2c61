"""The Team page: invite by e-mail (a real SMTP server), roles, removal, and the last-admin rule."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType

from atlas.models import ApiKey, AuditEntry, Membership
from atlas.services import api_key_create
from tests.cockpit.builders import PASSWORD, login
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db
User = get_user_model()


def member(tenant, email, role=Membership.Role.VIEWER, password="member-pass-123"):
    user = User.objects.create_user(username=email, email=email, password=password)
    return Membership.objects.create(user=user, merchant=tenant.merchant, role=role)


def test_the_page_lists_members_with_their_role(client, tenant):
    member(tenant, "vic@acme.test")
    login(client, tenant)
    page = client.get("/team/")
    assert page.status_code == 200
    rows = re.findall(r'data-member="([^"]+)"', page.content.decode())
    assert rows == ["owner@acme.test", "vic@acme.test"]
    assert b"Send invitation" in page.content


def test_an_invitation_is_e_mailed_and_its_link_sets_the_password(client, tenant, smtp):
    login(client, tenant)
    response = client.post("/team/", {"email": "New.Person@Acme.test", "role": "viewer"})
    assert response.status_code == 302
    created = Membership.objects.get(user__username="new.person@acme.test")
    assert (created.merchant, created.role, created.user.has_usable_password()) == (tenant.merchant, "viewer", False)
    (recipients, message), = smtp.messages
    assert recipients == ["new.person@acme.test"]
    assert message["Subject"] == "You are invited to Acme Cloud on Atlas"
    body = message.get_payload(decode=True).decode()
    assert "owner@acme.test invited you to Acme Cloud on Atlas as viewer." in body
    link = re.search(r"http://testserver(/set-password/\S+/)", body).group(1)

    client.logout()
    form = client.get(link, follow=True)
    assert form.status_code == 200 and b"Choose your password" in form.content
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "a-fine-password-1",
                                                    "new_password2": "a-fine-password-1"})  # fmt: skip
    assert done.status_code == 302 and done.url == "/login/"
    assert client.login(username="new.person@acme.test", password="a-fine-password-1")
    client.logout()
    assert b"no longer valid" in client.get(link, follow=True).content  # one use


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": "not-an-address", "role": "viewer"}, "email", "Enter a valid email address."),
        ({"email": "x@acme.test", "role": "owner"}, "role", "Select a valid choice."),
        ({"email": "owner@acme.test", "role": "viewer"}, "email", "owner@acme.test already has an Atlas login"),
    ],
)
def test_a_bad_invitation_names_the_field_and_changes_nothing(client, tenant, smtp, data, field, message):
    login(client, tenant)
    response = client.post("/team/", data)
    assert response.status_code == 400
    assert re.search(rf'data-field="{field}">[^<]*{re.escape(message)}', response.content.decode())
    assert Membership.objects.count() == 1 and User.objects.count() == 1
    assert smtp.messages == []


def test_an_invitation_that_cannot_be_sent_keeps_nothing(client, tenant, no_smtp):
    login(client, tenant)
    response = client.post("/team/", {"email": "new@acme.test", "role": "admin"})
    assert response.status_code == 400
    assert b"the invitation could not be sent" in response.content
    assert not Membership.objects.filter(user__username="new@acme.test").exists()
    assert not User.objects.filter(username="new@acme.test", is_active=True).exists()


def test_an_admin_changes_a_role_and_the_audit_log_shows_it(client, tenant):
    vic = member(tenant, "vic@acme.test")
    login(client, tenant)
    assert client.post(f"/team/{vic.pk}/role/", {"role": "admin"}).status_code == 302
    vic.refresh_from_db()
    assert vic.role == "admin"
    entry = AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(Membership),
                                      object_pk=str(vic.pk), action=AuditEntry.Action.UPDATE).get()  # fmt: skip
    assert (entry.changes, entry.actor) == ({"role": ["viewer", "admin"]}, tenant.user)
    assert "Team changes" in client.get("/team/").content.decode()


def test_the_last_admin_can_be_neither_demoted_nor_removed(client, tenant):
    owner = Membership.objects.get(user=tenant.user)
    login(client, tenant)
    demote = client.post(f"/team/{owner.pk}/role/", {"role": "viewer"})
    assert demote.status_code == 400
    assert b"the last admin cannot be made a viewer" in demote.content
    remove = client.post(f"/team/{owner.pk}/remove/")
    assert remove.status_code == 400
    assert b"the last admin cannot be removed" in remove.content
    owner.refresh_from_db()
    assert owner.role == "admin" and User.objects.get(pk=tenant.user.pk).is_active


def test_a_bad_role_names_the_field_and_changes_nothing(client, tenant):
    vic = member(tenant, "vic@acme.test")
    login(client, tenant)
    response = client.post(f"/team/{vic.pk}/role/", {"role": "superuser"})
    assert response.status_code == 400
    assert b"Role: Select a valid choice." in response.content
    vic.refresh_from_db()
    assert vic.role == "viewer"


def test_removing_a_member_ends_their_sessions_and_revokes_their_keys(client, tenant):
    from django.test import Client

    ada = member(tenant, "ada@acme.test", role=Membership.Role.ADMIN)
    key, secret = api_key_create(merchant=tenant.merchant, name="ada's key", created_by=ada.user)
    theirs = Client()
    assert theirs.login(username="ada@acme.test", password="member-pass-123")
    assert theirs.get("/team/").status_code == 200
    login(client, tenant)

    response = client.post(f"/team/{ada.pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=ada.pk).exists()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert ApiKey.objects.get(name="Default key").revoked_at is None  # the owner's key stays
    assert theirs.get("/team/").status_code == 302  # logged out: to the login page
    assert not theirs.login(username="ada@acme.test", password="member-pass-123")
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/customers").status_code == 401
    removal = AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(Membership),
                                        action=AuditEntry.Action.DELETE).get()  # fmt: skip
    assert removal.actor == tenant.user and removal.object_repr.startswith("ada@acme.test")


def test_a_removed_member_can_be_invited_again(client, tenant, smtp):
    ada = member(tenant, "ada@acme.test", role=Membership.Role.ADMIN)
    login(client, tenant)
    client.post(f"/team/{ada.pk}/remove/")
    assert client.post("/team/", {"email": "ada@acme.test", "role": "viewer"}).status_code == 302
    assert Membership.objects.get(user__username="ada@acme.test").role == "viewer"
    assert User.objects.filter(username="ada@acme.test").count() == 1


def test_viewers_see_the_team_but_cannot_change_it(client, tenant):
    vic = member(tenant, "vic@acme.test")
    owner = Membership.objects.get(user=tenant.user)
    assert client.login(username="vic@acme.test", password="member-pass-123")
    page = client.get("/team/")
    assert page.status_code == 200 and b"Send invitation" not in page.content and b"Remove" not in page.content
    assert client.post("/team/", {"email": "x@acme.test", "role": "admin"}).status_code == 403
    assert client.post(f"/team/{vic.pk}/role/", {"role": "admin"}).status_code == 403
    assert client.post(f"/team/{owner.pk}/remove/").status_code == 403
    assert Membership.objects.count() == 2 and Membership.objects.get(pk=vic.pk).role == "viewer"


def test_another_merchants_members_are_not_found(client, tenant):
    other = Tenant("Globex", "owner@globex.test")
    theirs = Membership.objects.get(user=other.user)
    login(client, tenant)
    assert b"owner@globex.test" not in client.get("/team/").content
    assert client.post(f"/team/{theirs.pk}/role/", {"role": "viewer"}).status_code == 404
    assert client.post(f"/team/{theirs.pk}/remove/").status_code == 404
    assert Membership.objects.get(pk=theirs.pk).role == "admin"


def test_the_team_forms_need_the_csrf_token(tenant):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.login(username=tenant.user.username, password=PASSWORD)
    assert client.post("/team/", {"email": "x@acme.test", "role": "admin"}).status_code == 403
