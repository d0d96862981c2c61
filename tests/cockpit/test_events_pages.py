"""The events explorer: filters, keyset pages that stay fast deep in the history, properties shown."""

from datetime import timedelta

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.cockpit.pagedata import login, login_viewer, make_customer, send_events

pytestmark = pytest.mark.django_db

PAGE_QUERIES = 6  # session, user, membership, merchant, the page, the bounded count


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def acme(tenant):
    return make_customer(tenant.merchant, "acme", name="Acme Corp")


def ids(response) -> list[str]:
    return [row["event"].transaction_id for row in response.context["events"]]


class TestEventsExplorer:
    def test_it_lists_recent_events_newest_first_with_their_properties(self, client, tenant, acme, now):
        send_events(tenant.merchant, "acme", "api_call", 1, at=now - timedelta(hours=2), tag="old", region="eu")
        send_events(tenant.merchant, "acme", "storage", 1, at=now - timedelta(hours=1), tag="new", gb="12.5")
        login(client, tenant)
        response = client.get("/events/")
        assert response.status_code == 200
        assert ids(response) == ["new-acme-0", "old-acme-0"]
        content = response.content.decode()
        assert '<span class="prop"><b>gb</b>=12.5</span>' in content
        assert '<span class="prop"><b>region</b>=eu</span>' in content
        assert 'href="/customers/acme/"' in content
        assert (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S") in content

    def test_anonymous_visitors_are_sent_to_login(self, client, tenant):
        response = client.get("/events/")
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")

    def test_another_merchants_events_never_show(self, client, tenant, other_tenant, acme, now):
        make_customer(other_tenant.merchant, "acme", name="Globex twin")
        send_events(other_tenant.merchant, "acme", "api_call", 3, at=now, tag="foreign")
        send_events(tenant.merchant, "acme", "api_call", 1, at=now, tag="mine")
        login(client, tenant)
        assert ids(client.get("/events/")) == ["mine-acme-0"]
        assert ids(client.get("/events/", {"customer": "acme"})) == ["mine-acme-0"]
        assert b"Globex twin" not in client.get("/events/").content

    def test_filters_by_customer_code_and_time_range(self, client, tenant, acme, now):
        make_customer(tenant.merchant, "beta")
        send_events(tenant.merchant, "acme", "api_call", 1, at=now - timedelta(days=2), tag="a-old")
        send_events(tenant.merchant, "acme", "api_call", 1, at=now - timedelta(hours=1), tag="a-new")
        send_events(tenant.merchant, "acme", "storage", 1, at=now - timedelta(hours=1), tag="a-store")
        send_events(tenant.merchant, "beta", "api_call", 1, at=now - timedelta(hours=1), tag="b-new")
        login(client, tenant)
        assert set(ids(client.get("/events/", {"customer": "beta"}))) == {"b-new-beta-0"}
        assert set(ids(client.get("/events/", {"code": "storage"}))) == {"a-store-acme-0"}
        assert client.get("/events/", {"customer": "nobody"}).context["events"] == []
        since = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        assert set(ids(client.get("/events/", {"customer": "acme", "code": "api_call", "start": since}))) == {
            "a-new-acme-0"
        }
        assert set(ids(client.get("/events/", {"customer": "acme", "end": since}))) == {"a-old-acme-0"}

    def test_keyset_pages_walk_the_whole_history_once_even_with_equal_timestamps(self, client, tenant, acme, now):
        # 60 events share one timestamp, so the cursor's id breaks ties.
        send_events(tenant.merchant, "acme", "api_call", 60, at=now - timedelta(minutes=5), tag="same")
        send_events(tenant.merchant, "acme", "api_call", 45, at=now - timedelta(minutes=9), tag="earlier")
        login(client, tenant)
        seen, params, pages = [], {}, 0
        while True:
            response = client.get("/events/", params)
            assert response.status_code == 200
            seen += ids(response)
            pages += 1
            if not response.context["next_query"]:
                break
            params = QueryDict(response.context["next_query"]).dict()
        assert pages == 3
        assert len(seen) == len(set(seen)) == 105
        assert set(seen[:60]) == {f"same-acme-{n}" for n in range(60)}
        assert set(seen[60:]) == {f"earlier-acme-{n}" for n in range(45)}

    def test_a_page_is_indexed_range_reads_and_a_bounded_count_never_an_offset(self, client, tenant, acme, now,
                                                                                 monkeypatch):  # fmt: skip
        monkeypatch.setattr("metering.views.COUNT_LIMIT", 100)
        send_events(tenant.merchant, "acme", "api_call", 120, at=now, tag="bulk")
        login(client, tenant)
        first = client.get("/events/")
        with CaptureQueriesContext(connection) as queries:
            second = client.get("/events/?" + first.context["next_query"])
        assert len(ids(second)) == 50
        sql = [query["sql"].upper() for query in queries.captured_queries]
        assert not any("OFFSET" in statement for statement in sql)
        (count,) = [statement for statement in sql if "COUNT(" in statement]
        assert "LIMIT 101" in count  # counts at most COUNT_LIMIT + 1 rows, whatever the table holds
        assert second.context["pager"].count == 100 and second.context["pager"].more
        assert "Showing 51–100 of more than 100 events" in second.content.decode()

    def test_pages_go_both_ways_with_their_position_and_the_count(self, client, tenant, acme, now):
        send_events(tenant.merchant, "acme", "api_call", 120, at=now - timedelta(minutes=1), tag="bulk")
        login(client, tenant)
        first = client.get("/events/")
        assert "Showing 1–50 of 120 events" in first.content.decode()
        assert first.context["pager"].previous_query is None
        second = client.get("/events/?" + first.context["pager"].next_query)
        third = client.get("/events/?" + second.context["pager"].next_query)
        assert "Showing 101–120 of 120 events" in third.content.decode()
        assert third.context["pager"].next_query is None
        back = client.get("/events/?" + third.context["pager"].previous_query)
        assert ids(back) == ids(second)
        assert "Showing 51–100 of 120 events" in back.content.decode()
        start = client.get("/events/?" + back.context["pager"].previous_query)
        assert ids(start) == ids(first)
        assert "Showing 1–50 of 120 events" in start.content.decode()
        assert 'rel="prev"' in back.content.decode() and 'rel="next"' in back.content.decode()

    def test_filters_travel_with_the_page_links(self, client, tenant, acme, now):
        make_customer(tenant.merchant, "beta")
        send_events(tenant.merchant, "acme", "api_call", 60, at=now - timedelta(minutes=1), tag="a")
        send_events(tenant.merchant, "beta", "api_call", 5, at=now - timedelta(minutes=1), tag="b")
        login(client, tenant)
        first = client.get("/events/", {"customer": "acme"})
        assert "Showing 1–50 of 60 events" in first.content.decode()
        second = client.get("/events/?" + first.context["pager"].next_query)
        assert "Showing 51–60 of 60 events" in second.content.decode()
        assert set(ids(second)) <= {f"a-acme-{n}" for n in range(60)}

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"before": "yesterday"}, "before"),
            ({"before": "2026-01-01T00:00:00+00:00,abc"}, "before"),
            ({"start": "2026-02-01T00:00", "end": "2026-01-01T00:00"}, "end"),
            ({"start": "not a date"}, "start"),
        ],
    )
    def test_bad_filters_are_refused_with_the_field_error(self, client, tenant, params, field):
        login(client, tenant)
        response = client.get("/events/", params)
        assert response.status_code == 400
        assert response.context["form"].errors[field]
        assert f'data-field="{field}"' in response.content.decode()

    def test_a_viewer_can_explore_but_not_post(self, client, tenant, acme, now):
        send_events(tenant.merchant, "acme", "api_call", 1, at=now)
        login_viewer(client, tenant)
        assert client.get("/events/").status_code == 200
        assert client.post("/events/", {"code": "x"}).status_code == 403

    @pytest.mark.parametrize("rows", [3, 30])
    def test_queries_do_not_grow_with_the_rows(self, client, tenant, acme, now, rows, django_assert_max_num_queries):
        make_customer(tenant.merchant, "beta")
        send_events(tenant.merchant, "acme", "api_call", rows, at=now, region="eu")
        send_events(tenant.merchant, "beta", "api_call", 3, at=now, region="us")
        login(client, tenant)
        with django_assert_max_num_queries(PAGE_QUERIES):
            response = client.get("/events/", {"code": "api_call"})
        assert len(response.context["events"]) == rows + 3
