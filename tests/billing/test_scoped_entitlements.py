"""Entitlements at the scope a product enforces them (SPEC §11.7, seed 004): per team member, per usage
bucket, per local day, per seat. The seed's three examples are built here as docs/metering.md shows them."""

from datetime import UTC, datetime, timedelta

import pytest

from atlas.models import Merchant
from billing.subscriptions.services import subscription_create
from catalog.models import Metric
from customers.models import Customer, CustomerUser, ProvisioningChange
from metering.models import Event, MetricState, UsageBucket
from metering.services import events_ingest

pytestmark = pytest.mark.django_db


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def created(response, status: int = 201) -> dict:
    assert response.status_code == status, response.content
    return response.json()


_counter = [0]


def send(merchant, *events, customer: str = "acme"):
    """Ingest ``(code, timestamp, properties)`` events for ``customer``; every one must be accepted."""
    payloads = []
    for code, timestamp, properties in events:
        _counter[0] += 1
        payloads.append({"transaction_id": f"t{_counter[0]}", "customer": customer, "code": code,
                         "timestamp": iso(timestamp), "properties": properties})  # fmt: skip
    result = events_ingest(merchant=merchant, payloads=payloads, received_at=max(e[1] for e in events))
    assert result.rejected == 0, [item.errors for item in result.results if item.errors]


def catalog(api, *, metrics: list[dict], features: list[dict], limits: list[dict], start: datetime, merchant):
    for metric in metrics:
        created(api.post("/api/v1/metrics", metric, format="json"))
    for feature in features:
        created(api.post("/api/v1/features", feature, format="json"))
    plan = {"code": "team", "name": "Team", "currency": "EUR", "interval": "month", "interval_count": 1,
            "base_fee": "10.00", "charges": [], "features": limits}  # fmt: skip
    created(api.post("/api/v1/plans", plan, format="json"))
    assert api.post("/api/v1/plans/team/publish").status_code == 200
    subscription_create(merchant=merchant, external_id="sub_acme", customer="acme", plan="team", start_date=start)


def check(api, key: str, query: str = "") -> dict:
    response = api.get(f"/api/v1/customers/acme/entitlements/{key}{'?' + query if query else ''}")
    assert response.status_code == 200, response.content
    return response.json()


def refused(api, path: str) -> dict:
    response = api.get(path)
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


@pytest.fixture
def paris(tenant) -> Merchant:
    Merchant.objects.filter(pk=tenant.merchant.pk).update(timezone="Europe/Paris")
    tenant.merchant.refresh_from_db()
    customer = Customer.objects.create(merchant=tenant.merchant, external_id="acme", name="Acme", currency="EUR")
    Customer.objects.filter(pk=customer.pk).update(created_at=at(2025, 1, 1))
    return tenant.merchant


# --- seed example 1: daily and monthly caps on one metering ID ------------------------------------------------


@pytest.fixture
def invoice_caps(api, paris):
    catalog(
        api,
        merchant=paris,
        start=at(2026, 1, 1),
        metrics=[
            {"code": "monthly_invoices", "name": "Invoices a month", "event_codes": ["invoice"]},
            {"code": "daily_invoices", "name": "Invoices a day", "event_codes": ["invoice"], "period": "day"},
        ],
        features=[
            {"key": "invoices_per_month", "name": "Invoices a month", "kind": "limit", "metric": "monthly_invoices"},
            {"key": "invoices_per_day", "name": "Invoices a day", "kind": "limit", "metric": "daily_invoices"},
        ],
        limits=[{"feature": "invoices_per_month", "limit": 100}, {"feature": "invoices_per_day", "limit": 3}],
    )


class TestDailyAndMonthlyCapsOnOneMeteringId:
    def test_the_daily_cap_stops_the_fourth_invoice_of_the_local_day_while_the_month_allows_more(
        self, api, paris, invoice_caps
    ):
        send(paris, ("invoice", at(2026, 1, 19, 10), {}))
        send(paris, *[("invoice", at(2026, 1, 20, 8 + hour), {}) for hour in range(3)])

        daily = check(api, "invoices_per_day", "at=2026-01-20T12:00:00Z")
        monthly = check(api, "invoices_per_month", "at=2026-01-20T12:00:00Z")

        assert daily == {"key": "invoices_per_day", "kind": "limit", "allowed": False, "limit": 3, "usage": "3",
                         "remaining": "0", "value": None, "scope": "customer", "bucket": None}  # fmt: skip
        assert (monthly["allowed"], monthly["usage"], monthly["remaining"]) == (True, "4", "96")

    def test_the_daily_cap_resets_at_midnight_in_paris_not_in_utc(self, api, paris, invoice_caps):
        send(paris, *[("invoice", at(2026, 1, 20, 8 + hour), {}) for hour in range(3)])

        # 23:30 UTC on the 20th is 00:30 on the 21st in Paris: a new day, the cap is free again.
        after_midnight = check(api, "invoices_per_day", "at=2026-01-20T23:30:00Z")
        before_midnight = check(api, "invoices_per_day", "at=2026-01-20T22:59:59Z")

        assert (after_midnight["allowed"], after_midnight["usage"], after_midnight["remaining"]) == (True, "0", "3")
        assert (before_midnight["allowed"], before_midnight["usage"]) == (False, "3")

    def test_a_23_hour_day_counts_exactly_the_events_between_its_local_midnights(self, api, paris, invoice_caps):
        # 2026-03-29, Europe/Paris springs forward: the local day is 23:00Z on the 28th to 22:00Z on the 29th.
        send(
            paris,
            ("invoice", at(2026, 3, 28, 22, 59, 59), {}),  # 23:59:59 on the 28th, local
            ("invoice", at(2026, 3, 28, 23), {}),  # 00:00 on the 29th
            ("invoice", at(2026, 3, 29, 1, 30), {}),  # 03:30 CEST, just after the jump
            ("invoice", at(2026, 3, 29, 21, 59, 58), {}),  # 23:59:58 on the 29th
            ("invoice", at(2026, 3, 29, 22), {}),  # 00:00 on the 30th
        )

        assert check(api, "invoices_per_day", "at=2026-03-29T21:59:59Z")["usage"] == "3"
        assert check(api, "invoices_per_day", "at=2026-03-29T22:30:00Z")["usage"] == "1"
        assert check(api, "invoices_per_day", "at=2026-03-28T22:59:59.5Z")["usage"] == "1"

    def test_a_25_hour_day_counts_exactly_the_events_between_its_local_midnights(self, api, paris, invoice_caps):
        # 2026-10-25, Europe/Paris falls back: the local day is 22:00Z on the 24th to 23:00Z on the 25th.
        send(
            paris,
            ("invoice", at(2026, 10, 24, 21, 59, 59), {}),  # 23:59:59 on the 24th, local
            ("invoice", at(2026, 10, 24, 22), {}),  # 00:00 on the 25th
            ("invoice", at(2026, 10, 25, 0, 30), {}),  # 02:30 CEST
            ("invoice", at(2026, 10, 25, 1, 30), {}),  # 02:30 CET, the repeated hour
            ("invoice", at(2026, 10, 25, 22, 59, 58), {}),  # 23:59:58 on the 25th
            ("invoice", at(2026, 10, 25, 23), {}),  # 00:00 on the 26th
        )

        assert check(api, "invoices_per_day", "at=2026-10-25T22:59:59Z")["usage"] == "4"
        assert check(api, "invoices_per_day", "at=2026-10-25T23:00:01Z")["usage"] == "1"
        assert check(api, "invoices_per_day", "at=2026-10-24T21:59:59.5Z")["usage"] == "1"

    def test_the_answer_for_now_counts_todays_events_from_the_state(self, api, paris, invoice_caps):
        now = datetime.now(UTC)
        send(paris, ("invoice", now - timedelta(seconds=1), {}))

        answer = check(api, "invoices_per_day")

        assert answer["usage"] == "1"
        state = MetricState.objects.get(metric__code="daily_invoices")
        assert state.bucket_seconds == 3600


# --- seed example 2: files per team member per day, and seats per subscription ----------------------------------


@pytest.fixture
def file_service(api, paris):
    catalog(
        api,
        merchant=paris,
        start=at(2026, 1, 1),
        metrics=[{"code": "files_today", "name": "Files a day", "event_codes": ["file_upload"], "period": "day"}],
        features=[
            {"key": "files_per_member", "name": "Files per member a day", "kind": "limit", "metric": "files_today",
             "scope": "user"},
            {"key": "seats", "name": "Seats", "kind": "limit", "counts": "users"},
        ],  # fmt: skip
        limits=[{"feature": "files_per_member", "limit": 2}, {"feature": "seats", "limit": 2}],
    )


DAY = "at=2026-02-10T18:00:00Z"


class TestFilesPerTeamMemberPerDay:
    def test_each_member_has_their_own_daily_limit(self, api, paris, file_service):
        send(
            paris,
            ("file_upload", at(2026, 2, 10, 9), {"user": "alice"}),
            ("file_upload", at(2026, 2, 10, 10), {"user": "alice"}),
            ("file_upload", at(2026, 2, 10, 11), {"user": "bob"}),
            ("file_upload", at(2026, 2, 9, 11), {"user": "bob"}),  # yesterday
            ("file_upload", at(2026, 2, 10, 12), {}),  # no team member
        )

        alice = check(api, "files_per_member", f"user=alice&{DAY}")
        bob = check(api, "files_per_member", f"user=bob&{DAY}")
        carol = check(api, "files_per_member", f"user=carol&{DAY}")

        assert alice == {"key": "files_per_member", "kind": "limit", "allowed": False, "limit": 2, "usage": "2",
                         "remaining": "0", "value": None, "scope": "user", "bucket": {"user": "alice"}}  # fmt: skip
        assert (bob["allowed"], bob["usage"], bob["remaining"]) == (True, "1", "1")
        assert (carol["allowed"], carol["usage"], carol["remaining"]) == (True, "0", "2")

    def test_asking_without_a_user_is_a_400_on_user(self, api, paris, file_service):
        fields = refused(api, "/api/v1/customers/acme/entitlements/files_per_member")
        assert fields == {"user": "is required: 'files_per_member' is limited per team member (?user=)"}

    def test_a_user_for_a_feature_counted_per_customer_is_a_400_on_user(self, api, paris, file_service):
        fields = refused(api, "/api/v1/customers/acme/entitlements/seats?user=alice")
        assert fields == {"user": "applies only to a user-scoped feature; 'seats' is per customer"}
        assert refused(api, "/api/v1/customers/acme/entitlements/files_per_member?user=") == {
            "user": "must be a user id (not blank, without U+001F)"
        }

    def test_the_list_answers_user_scoped_features_for_the_user_asked_about(self, api, paris, file_service):
        send(paris, ("file_upload", at(2026, 2, 10, 9), {"user": "alice"}))

        listed = {item["key"]: item for item in api.get(f"/api/v1/customers/acme/entitlements?{DAY}").json()["results"]}
        alice = {item["key"]: item for item in
                 api.get(f"/api/v1/customers/acme/entitlements?user=alice&{DAY}").json()["results"]}  # fmt: skip

        assert (listed["files_per_member"]["usage"], listed["files_per_member"]["limit"]) == (None, 2)
        assert listed["files_per_member"]["bucket"] is None
        assert (alice["files_per_member"]["usage"], alice["files_per_member"]["bucket"]) == ("1", {"user": "alice"})
        assert alice["seats"]["bucket"] is None

    def test_the_metric_keeps_per_user_buckets_once_a_user_scoped_feature_counts_it(self, api, paris, file_service):
        send(paris, *[("file_upload", at(2026, 2, 10, 9, n), {"user": f"u{n % 3}"}) for n in range(30)])

        check(api, "files_per_member", f"user=u1&{DAY}")

        assert Metric.objects.get(code="files_today").user_buckets is True
        rows = UsageBucket.objects.filter(metric__code="files_today").values_list("user_key", "events_count")
        assert sorted(rows) == [("u0", 10), ("u1", 10), ("u2", 10)]

    def test_a_metric_counted_before_its_user_scoped_feature_is_rebuilt_per_user(self, api, paris):
        created(api.post("/api/v1/metrics", {"code": "uploads", "name": "Uploads", "event_codes": ["upload"],
                                             "period": "all_time"}, format="json"))  # fmt: skip
        created(api.post("/api/v1/features", {"key": "uploads_total", "name": "Uploads", "kind": "limit",
                                              "metric": "uploads", "default_limit": 10}, format="json"))  # fmt: skip
        send(paris, *[("upload", at(2026, 2, 1, n), {"user": "alice" if n % 2 else "bob"}) for n in range(6)])
        assert check(api, "uploads_total", "at=2026-02-02T00:00:00Z")["usage"] == "6"  # builds the state
        assert set(UsageBucket.objects.values_list("user_key", flat=True)) == {""}

        created(api.post("/api/v1/features", {"key": "uploads_each", "name": "Uploads each", "kind": "limit",
                                              "metric": "uploads", "default_limit": 4, "scope": "user"},
                         format="json"))  # fmt: skip
        send(paris, ("upload", at(2026, 2, 1, 8), {"user": "alice"}))  # ingested while the state is stale

        alice = check(api, "uploads_each", "user=alice&at=2026-02-02T00:00:00Z")
        assert (alice["usage"], alice["allowed"], alice["remaining"]) == ("4", False, "0")
        assert check(api, "uploads_each", "user=bob&at=2026-02-02T00:00:00Z")["usage"] == "3"
        assert check(api, "uploads_total", "at=2026-02-02T00:00:00Z")["usage"] == "7"


class TestSeatLimits:
    def test_the_answer_reports_active_users_as_usage(self, api, paris, file_service):
        created(api.post("/api/v1/customers/acme/users", {"external_id": "alice"}, format="json"))
        assert check(api, "seats") == {
            "key": "seats", "kind": "limit", "allowed": True, "limit": 2, "usage": "1", "remaining": "1",
            "value": None, "scope": "customer", "bucket": None,
        }  # fmt: skip

    def test_provisioning_beyond_a_hard_limit_is_a_409_naming_the_feature_and_writes_nothing(
        self, api, paris, file_service
    ):
        for user in ("alice", "bob"):
            created(api.post("/api/v1/customers/acme/users", {"external_id": user}, format="json"))
        seat_events = Event.objects.filter(code="seat").count()

        response = api.post("/api/v1/customers/acme/users", {"external_id": "carol"}, format="json")

        assert response.status_code == 409
        assert response.json()["error"] == {
            "type": "conflict",
            "message": "Seat limit 'seats' reached: 2 of 2 users already provisioned (hard limit); "
            "deprovision a user or raise the limit first.",
            "fields": {},
        }
        assert not CustomerUser.objects.filter(external_id="carol").exists()
        assert ProvisioningChange.objects.count() == 2
        assert Event.objects.filter(code="seat").count() == seat_events == 2
        answer = check(api, "seats")
        assert (answer["allowed"], answer["usage"], answer["remaining"]) == (False, "2", "0")

    def test_a_deprovisioned_user_frees_the_seat(self, api, paris, file_service):
        for user in ("alice", "bob"):
            created(api.post("/api/v1/customers/acme/users", {"external_id": user}, format="json"))
        assert api.delete("/api/v1/customers/acme/users/bob").status_code == 200

        created(api.post("/api/v1/customers/acme/users", {"external_id": "carol"}, format="json"))

        assert check(api, "seats")["usage"] == "2"

    def test_a_soft_limit_lets_the_user_in_and_reports_the_overage(self, api, paris, file_service):
        subscription = paris.subscriptions.get(external_id="sub_acme")
        from catalog.models import PlanFeature

        PlanFeature.objects.filter(plan_version=subscription.plan_version, feature__key="seats").update(
            enforcement="soft"
        )
        for user in ("alice", "bob", "carol"):
            created(api.post("/api/v1/customers/acme/users", {"external_id": user}, format="json"))

        answer = check(api, "seats")

        assert (answer["allowed"], answer["limit"], answer["usage"], answer["remaining"]) == (True, 2, "3", "0")

    def test_the_cockpit_form_refuses_the_extra_user_with_the_reason(self, client, tenant, api, paris, file_service):
        from tests.cockpit.builders import login

        for user in ("alice", "bob"):
            created(api.post("/api/v1/customers/acme/users", {"external_id": user}, format="json"))
        login(client, tenant)

        response = client.post("/customers/acme/users/", {"provision-external_id": "carol"}, follow=True)

        assert "Seat limit &#x27;seats&#x27; reached: 2 of 2 users already provisioned" in response.content.decode()
        assert not CustomerUser.objects.filter(external_id="carol").exists()

    def test_no_seat_feature_means_no_seat_limit(self, api, paris):
        for user in ("alice", "bob", "carol"):
            created(api.post("/api/v1/customers/acme/users", {"external_id": user}, format="json"))
        assert CustomerUser.objects.count() == 3


# --- seed example 3: API calls per project (usage buckets) ------------------------------------------------------


@pytest.fixture
def project_calls(api, paris):
    catalog(
        api,
        merchant=paris,
        start=at(2026, 1, 1),
        metrics=[{"code": "project_calls", "name": "API calls", "event_codes": ["api_call"], "group_by": ["project"]}],
        features=[{"key": "calls_per_project", "name": "Calls per project", "kind": "limit",
                   "metric": "project_calls"}],  # fmt: skip
        limits=[{"feature": "calls_per_project", "limit": 3}],
    )
    send(
        paris,
        *[("api_call", at(2026, 1, 5, hour), {"project": "p1"}) for hour in range(3)],
        ("api_call", at(2026, 1, 6), {"project": "p2"}),
        ("api_call", at(2025, 12, 31, 22), {"project": "p2"}),  # the previous period
    )


JAN = "at=2026-01-20T12:00:00Z"


class TestApiCallsPerProject:
    def test_each_bucket_has_its_own_limit(self, api, paris, project_calls):
        p1 = check(api, "calls_per_project", f"group.project=p1&{JAN}")
        p2 = check(api, "calls_per_project", f"group.project=p2&{JAN}")
        p3 = check(api, "calls_per_project", f"group.project=p3&{JAN}")

        assert p1 == {"key": "calls_per_project", "kind": "limit", "allowed": False, "limit": 3, "usage": "3",
                      "remaining": "0", "value": None, "scope": "customer", "bucket": {"project": "p1"}}  # fmt: skip
        assert (p2["allowed"], p2["usage"], p2["remaining"]) == (True, "1", "2")
        assert (p3["allowed"], p3["usage"], p3["remaining"]) == (True, "0", "3")

    def test_without_a_bucket_the_answer_counts_every_bucket_together(self, api, paris, project_calls):
        answer = check(api, "calls_per_project", JAN)
        assert (answer["usage"], answer["bucket"], answer["allowed"]) == ("4", None, False)

    def test_a_bucket_property_the_metric_does_not_group_by_is_a_400_naming_it(self, api, paris, project_calls):
        base = "/api/v1/customers/acme/entitlements"
        assert refused(api, f"{base}/calls_per_project?group.region=eu") == {
            "group.region": "is not a bucket property: 'calls_per_project' groups by project"
        }
        assert refused(api, f"{base}/calls_per_project?group.=x") == {
            "group.": "is not a bucket property: 'calls_per_project' groups by project"
        }
        assert refused(api, f"{base}/calls_per_project?group.project=a%1Fb") == {
            "group.project": "must not contain U+001F"
        }
        assert refused(api, f"{base}?group.project=p1") == {
            "group.project": "applies to one feature: ask /entitlements/{key}"
        }

    def test_another_merchants_customer_is_a_404_whatever_the_bucket(self, api, other_tenant, paris, project_calls):
        response = other_tenant.api.get("/api/v1/customers/acme/entitlements/calls_per_project?group.project=p1")
        assert response.status_code == 404


class TestBucketsWithTwoProperties:
    def test_a_bucket_names_every_property_the_metric_groups_by(self, api, paris):
        catalog(
            api,
            merchant=paris,
            start=at(2026, 1, 1),
            metrics=[{"code": "calls", "name": "Calls", "event_codes": ["call"], "group_by": ["project", "region"]}],
            features=[{"key": "calls_each", "name": "Calls", "kind": "limit", "metric": "calls", "scope": "user"}],
            limits=[{"feature": "calls_each", "limit": 5, "enforcement": "soft"}],
        )
        send(
            paris,
            *[("call", at(2026, 1, 5, n), {"project": "p1", "region": "eu", "user": "alice"}) for n in range(6)],
            ("call", at(2026, 1, 5, 9), {"project": "p1", "region": "us", "user": "alice"}),
            ("call", at(2026, 1, 5, 10), {"project": "p1", "region": "eu", "user": "bob"}),
        )

        answer = check(api, "calls_each", f"user=alice&group.project=p1&group.region=eu&{JAN}")

        assert answer == {"key": "calls_each", "kind": "limit", "allowed": True, "limit": 5, "usage": "6",
                          "remaining": "0", "value": None, "scope": "user",
                          "bucket": {"user": "alice", "project": "p1", "region": "eu"}}  # fmt: skip
        assert refused(api, "/api/v1/customers/acme/entitlements/calls_each?user=alice&group.project=p1") == {
            "group.region": "is required: a bucket of 'calls_each' names project, region"
        }


# --- the feature API --------------------------------------------------------------------------------------------


class TestFeatureScopeAndCounts:
    @pytest.mark.parametrize(
        ("payload", "errors"),
        [
            ({"kind": "limit", "counts": "users", "metric": "m"},
             {"metric": "a seat limit (counts: users) counts active users, not a metric: leave it empty"}),
            ({"kind": "limit", "counts": "users", "scope": "user"},
             {"scope": "a seat limit (counts: users) is per customer"}),
            ({"kind": "boolean", "scope": "user"}, {"scope": "only limit features have a scope"}),
            ({"kind": "value", "counts": "users"}, {"counts": "only limit features count something"}),
            ({"kind": "limit", "metric": "m", "scope": "team"}, {"scope": '"team" is not a valid choice.'}),
            ({"kind": "limit", "counts": "seats"}, {"counts": '"seats" is not a valid choice.'}),
        ],
    )  # fmt: skip
    def test_it_refuses_a_scope_or_count_that_does_not_fit(self, api, paris, payload, errors):
        created(api.post("/api/v1/metrics", {"code": "m", "name": "M", "event_codes": ["m"]}, format="json"))
        response = api.post("/api/v1/features", {"key": "f", "name": "F", **payload}, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == errors
        assert not paris.features.exists()

    def test_a_seat_limit_has_no_metric(self, api, paris):
        seats = {"key": "seats", "name": "Seats", "kind": "limit", "counts": "users", "default_limit": 5}
        body = created(api.post("/api/v1/features", seats, format="json"))
        assert (body["metric"], body["counts"], body["scope"], body["default_limit"]) == (None, "users", "customer", 5)

    def test_the_scope_of_a_published_limit_cannot_change(self, api, paris, file_service):
        response = api.patch("/api/v1/features/files_per_member", {"scope": "customer"}, format="json")
        assert response.status_code == 409
        assert "its scope cannot change" in response.json()["error"]["message"]

    def test_a_metric_period_of_day_takes_no_window(self, api, paris):
        response = api.post("/api/v1/metrics", {"code": "d", "name": "D", "event_codes": ["d"], "period": "day",
                                                "window_seconds": 60}, format="json")  # fmt: skip
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"window_seconds": "applies only to a rolling period"}


# --- the customer page's data: who used how much of their own limit, the buckets nearest theirs -----------------


class TestScopedUsageOnTheCustomerPage:
    def test_members_are_listed_fullest_first_with_their_own_usage(self, api, paris, file_service):
        from billing.usage.scoped import scoped_usage

        created(api.post("/api/v1/customers/acme/users", {"external_id": "dora"}, format="json"))
        send(paris, *[("file_upload", at(2026, 2, 10, 9 + n), {"user": "alice"}) for n in range(3)],
             ("file_upload", at(2026, 2, 10, 9), {"user": "bob"}))  # fmt: skip
        check(api, "files_per_member", f"user=alice&{DAY}")

        (limit,) = scoped_usage(customer=Customer.objects.get(external_id="acme"), at=at(2026, 2, 10, 18))

        assert (limit.key, limit.kind, limit.limit, limit.enforcement) == ("files_per_member", "members", 2, "hard")
        assert [(row.label, row.usage, row.remaining, row.allowed, row.percent, row.tone) for row in limit.rows] == [
            ("alice", 3, 0, False, 100, "bad"),
            ("bob", 1, 1, True, 50, ""),
        ]

    def test_buckets_are_listed_nearest_their_limit_first_and_rendered_by_the_tag(self, api, paris, project_calls):
        from django.template import Context, Template

        from billing.usage.scoped import scoped_usage

        customer = Customer.objects.get(external_id="acme")
        (limit,) = scoped_usage(customer=customer, at=at(2026, 1, 20, 12))
        html = Template("{% load scoped_usage %}{% scoped_usage customer at %}").render(
            Context({"customer": customer, "at": at(2026, 1, 20, 12)})
        )

        assert (limit.key, limit.kind) == ("calls_per_project", "buckets")
        assert [(row.label, row.usage, row.percent, row.tone) for row in limit.rows] == [
            ("project=p1", 3, 100, "bad"),
            ("project=p2", 1, 33, ""),
        ]
        assert 'data-testid="scoped-calls_per_project-project=p1"' in html
        assert "3 / 3" in html and "1 / 3" in html and "per bucket" in html

    def test_nothing_is_rendered_without_scoped_limits(self, paris):
        from django.template import Context, Template

        customer = Customer.objects.get(external_id="acme")
        html = Template("{% load scoped_usage %}{% scoped_usage customer %}").render(Context({"customer": customer}))
        assert html.strip() == ""
