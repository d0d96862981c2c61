"""The events admin pages without a full count."""

import pytest
from django.contrib.auth import get_user_model

from metering.admin import CheapCountPaginator
from metering.models import Event, MetricState
from metering.selectors import current_usage
from tests.metering.conftest import at, ingest, make_metric

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@atlas.test", "pw-root-123")
    client.force_login(user)
    return client


def test_the_event_list_and_detail_open(admin_client, merchant, customer):
    ingest(merchant, {"customer": "cus_1", "code": "api_call", "timestamp": at(2026, 1, 2), "transaction_id": "tx-9"})
    event = Event.objects.get()
    assert admin_client.get("/admin/metering/event/").status_code == 200
    assert b"tx-9" in admin_client.get("/admin/metering/event/?q=tx-9").content
    assert admin_client.get(f"/admin/metering/event/{event.pk}/change/").status_code == 200
    assert admin_client.post(f"/admin/metering/event/{event.pk}/delete/").status_code == 403
    assert Event.objects.count() == 1


def test_the_paginator_caps_its_count(merchant, customer, django_assert_max_num_queries):
    ingest(merchant, *[{"customer": "cus_1", "code": "api_call"} for _ in range(30)])
    paginator = CheapCountPaginator(Event.objects.filter(code="api_call").order_by("-id"), 10)
    with django_assert_max_num_queries(1) as captured:
        assert paginator.count == 30
    assert "LIMIT" in captured.captured_queries[0]["sql"].upper()


def test_metric_states_can_be_rebuilt_from_the_admin(admin_client, merchant, customer):
    metric = make_metric(merchant)
    current_usage(metric=metric, customer_id=customer.pk, start=at(2026, 1, 1), end=at(2026, 2, 1))
    state = MetricState.objects.get()
    response = admin_client.post(
        "/admin/metering/metricstate/", {"action": "rebuild", "_selected_action": [state.pk]}, follow=True
    )
    assert response.status_code == 200
    assert MetricState.objects.get().built_at > state.built_at
