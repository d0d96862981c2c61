"""The catalog admin: every model listed, read-only; publishing is an action through the service."""

import pytest
from django.contrib.auth import get_user_model

from catalog import services
from catalog.models import PlanVersion
from tests.catalog.builders import spec_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@atlas.test", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def plan(tenant):
    catalog = spec_catalog(tenant.merchant)
    return services.plan_create(
        merchant=tenant.merchant,
        code="pro",
        name="Pro",
        content={
            "currency": "USD",
            "charges": [
                {
                    "metric": catalog["api_calls"],
                    "model": "per_unit",
                    "params": {"unit_amount": "0.01"},
                }
            ],
        },
    )


@pytest.mark.parametrize("model", ["metric", "feature", "plan", "planversion", "charge", "planfeature", "onetimefee"])
def test_every_catalog_model_has_a_searchable_changelist(admin_client, plan, model):
    response = admin_client.get(f"/admin/catalog/{model}/?q=pro")
    assert response.status_code == 200


def test_a_draft_version_is_shown_read_only_with_its_charges(admin_client, plan):
    # Drafts are edited in the cockpit or the API, where the whole version is validated (atlas/admin.py).
    version = PlanVersion.objects.get()
    response = admin_client.get(f"/admin/catalog/planversion/{version.pk}/change/")
    assert response.status_code == 200
    assert b"charges-0-properties" not in response.content
    assert b'name="_save"' not in response.content
    assert admin_client.post(f"/admin/catalog/planversion/{version.pk}/change/", {"currency": "EUR"}).status_code == 403


def test_a_published_version_is_read_only(admin_client, plan):
    services.plan_publish(plan=plan)
    version = PlanVersion.objects.get()
    response = admin_client.get(f"/admin/catalog/planversion/{version.pk}/change/")
    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    assert b"charges-0-properties" not in response.content
    response = admin_client.post(f"/admin/catalog/planversion/{version.pk}/change/", {"currency": "EUR"})
    assert response.status_code == 403
    version.refresh_from_db()
    assert version.currency == "USD"


def test_the_publish_action_publishes_a_draft(admin_client, plan):
    version = PlanVersion.objects.get()
    response = admin_client.post(
        "/admin/catalog/planversion/", {"action": "publish", "_selected_action": [version.pk]}, follow=True
    )
    assert response.status_code == 200
    version.refresh_from_db()
    assert version.status == "published"
