"""Users at a customer: provisioning history at past instants, seat events, the weighted seat quantity."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.exceptions import ValidationError

from atlas.models import ApiKey
from catalog import services as catalog
from customers.models import Customer, CustomerUser, ProvisioningChange
from customers.selectors import users_provisioned_at
from metering.aggregation import aggregate
from metering.models import Event
from metering.provisioning import Actor, user_deprovision, user_provision

pytestmark = pytest.mark.django_db


def dt(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def customer(tenant):
    return Customer.objects.create(merchant=tenant.merchant, external_id="cus_1", name="Initech")


@pytest.fixture
def actor(tenant):
    return Actor.for_api_key(ApiKey.objects.get(merchant=tenant.merchant))


def provision(customer, actor, external_id, at, **extra):
    return user_provision(customer=customer, external_id=external_id, provisioned_at=at, actor=actor, **extra)


def who(customer, at) -> list[str]:
    return sorted(users_provisioned_at(customer=customer, at=at).values_list("external_id", flat=True))


class TestHistory:
    def test_who_was_provisioned_at_past_instants(self, customer, actor):
        ann = provision(customer, actor, "ann", dt(2024, 1, 1))
        bob = provision(customer, actor, "bob", dt(2024, 2, 1))
        user_deprovision(user=ann, at=dt(2024, 3, 1), actor=actor)
        provision(customer, actor, "ann", dt(2024, 4, 1))  # back again, a new stint
        user_deprovision(user=bob, at=dt(2024, 4, 15), actor=actor)

        assert who(customer, dt(2023, 12, 31)) == []
        assert who(customer, dt(2024, 1, 1)) == ["ann"]
        assert who(customer, dt(2024, 2, 15)) == ["ann", "bob"]
        assert who(customer, dt(2024, 3, 1)) == ["bob"]  # deprovisioned at that instant: gone (half-open)
        assert who(customer, dt(2024, 4, 10)) == ["ann", "bob"]
        assert who(customer, dt(2024, 5, 1)) == ["ann"]

    def test_every_change_is_recorded_with_its_actor(self, tenant, customer, actor):
        ann = provision(customer, actor, "ann", dt(2024, 1, 1), email="ann@initech.test", name="Ann")
        user_deprovision(user=ann, at=dt(2024, 3, 1), actor=Actor.for_user(tenant.user))
        changes = list(
            ProvisioningChange.objects.values_list("action", "effective_at", "actor_api_key", "actor_user", "snapshot")
        )
        key = ApiKey.objects.get(merchant=tenant.merchant)
        snapshot = {"external_id": "ann", "email": "ann@initech.test", "name": "Ann"}
        assert changes == [
            ("provisioned", dt(2024, 1, 1), key.pk, None, snapshot),
            ("deprovisioned", dt(2024, 3, 1), None, tenant.user.pk, snapshot),
        ]
        assert ProvisioningChange.objects.first().actor_label == f"api key {key.name} ({key.prefix}…)"

    def test_a_user_cannot_be_provisioned_twice_at_once_or_overlap_a_past_stint(self, customer, actor):
        ann = provision(customer, actor, "ann", dt(2024, 1, 1))
        with pytest.raises(ValidationError) as raised:
            provision(customer, actor, "ann", dt(2024, 2, 1))
        assert set(raised.value.detail) == {"external_id"}
        user_deprovision(user=ann, at=dt(2024, 3, 1), actor=actor)
        with pytest.raises(ValidationError) as raised:
            provision(customer, actor, "ann", dt(2024, 2, 1))
        assert set(raised.value.detail) == {"provisioned_at"}
        assert CustomerUser.objects.count() == 1 and ProvisioningChange.objects.count() == 2
        assert Event.objects.count() == 2

    def test_deprovisioning_before_provisioning_is_refused(self, customer, actor):
        ann = provision(customer, actor, "ann", dt(2024, 1, 1))
        with pytest.raises(ValidationError) as raised:
            user_deprovision(user=ann, at=dt(2023, 1, 1), actor=actor)
        assert set(raised.value.detail) == {"at"}
        assert CustomerUser.objects.get().deprovisioned_at is None
        assert Event.objects.count() == 1


class TestSeatEvents:
    def test_each_change_records_a_seat_event_at_its_effective_time(self, customer, actor):
        ann = provision(customer, actor, "ann", dt(2024, 1, 10, 8))
        user_deprovision(user=ann, at=dt(2024, 1, 20), actor=actor)
        events = list(
            Event.objects.order_by("timestamp").values_list("transaction_id", "code", "timestamp", "properties")
        )
        assert events == [
            (f"seat:{ann.pk}:provisioned", "seat", dt(2024, 1, 10, 8), {"delta": 1, "user": "ann"}),
            (f"seat:{ann.pk}:deprovisioned", "seat", dt(2024, 1, 20), {"delta": -1, "user": "ann"}),
        ]

    def test_deprovisioning_twice_records_one_event(self, customer, actor):
        ann = provision(customer, actor, "ann", dt(2024, 1, 10))
        user_deprovision(user=ann, at=dt(2024, 1, 20), actor=actor)
        user_deprovision(user=ann, at=dt(2024, 1, 25), actor=actor)
        assert Event.objects.count() == 2
        assert CustomerUser.objects.get().deprovisioned_at == dt(2024, 1, 20)

    def test_a_seat_added_mid_period_is_weighted_by_time(self, tenant, customer, actor):
        metric = catalog.metric_create(
            merchant=tenant.merchant,
            code="seats",
            name="Seats",
            event_codes=["seat"],
            aggregation="weighted_sum",
            field="delta",
        )
        provision(customer, actor, "ann", dt(2024, 4, 1))  # the whole month
        provision(customer, actor, "bob", dt(2024, 4, 16))  # the second half of a 30-day month
        cid = customer.pk
        usage = aggregate(metric=metric, customer_id=cid, start=dt(2024, 4, 1), end=dt(2024, 5, 1))
        assert usage[()].quantity == Decimal("1.5")
        user_deprovision(user=CustomerUser.objects.get(external_id="ann"), at=dt(2024, 5, 11), actor=actor)
        usage = aggregate(metric=metric, customer_id=cid, start=dt(2024, 5, 1), end=dt(2024, 6, 1))
        assert usage[()].quantity.quantize(Decimal("0.0000001")) == Decimal("1.3225806")  # 1 + 10/31


class TestApi:
    def test_provision_list_and_deprovision(self, api, customer):
        response = api.post(
            "/api/v1/customers/cus_1/users",
            {
                "external_id": "ann",
                "email": "ann@initech.test",
                "name": "Ann",
                "provisioned_at": "2024-01-01T00:00:00Z",
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        assert response.json()["provisioned_at"] == "2024-01-01T00:00:00Z"
        api.post(
            "/api/v1/customers/cus_1/users",
            {"external_id": "bob", "provisioned_at": "2024-02-01T00:00:00Z"},
            format="json",
        )
        response = api.delete("/api/v1/customers/cus_1/users/ann?at=2024-03-01T00:00:00Z")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["deprovisioned_at"] == "2024-03-01T00:00:00Z"
        assert [(c["action"], c["effective_at"]) for c in body["changes"]] == [
            ("provisioned", "2024-01-01T00:00:00Z"),
            ("deprovisioned", "2024-03-01T00:00:00Z"),
        ]
        listed = {
            row["external_id"]: row["deprovisioned_at"]
            for row in api.get("/api/v1/customers/cus_1/users").json()["results"]
        }
        assert listed == {"ann": "2024-03-01T00:00:00Z", "bob": None}
        at = [
            row["external_id"]
            for row in api.get("/api/v1/customers/cus_1/users?at=2024-01-15T00:00:00Z").json()["results"]
        ]
        assert at == ["ann"]
        at = sorted(
            row["external_id"]
            for row in api.get("/api/v1/customers/cus_1/users?at=2024-02-15T00:00:00Z").json()["results"]
        )
        assert at == ["ann", "bob"]

    @pytest.mark.parametrize(
        "body, field",
        [
            ({"email": "bad"}, "email"),
            ({"external_id": ""}, "external_id"),
            ({"provisioned_at": "yesterday"}, "provisioned_at"),
            ({"provisioned_at": "2999-01-01T00:00:00Z"}, "provisioned_at"),
        ],
    )
    def test_bad_input_is_a_400_naming_the_field(self, api, customer, body, field):
        response = api.post("/api/v1/customers/cus_1/users", {"external_id": "ann", **body}, format="json")
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]
        assert not CustomerUser.objects.exists() and not Event.objects.exists()

    def test_bad_at_is_a_400(self, api, customer):
        api.post("/api/v1/customers/cus_1/users", {"external_id": "ann"}, format="json")
        assert "at" in api.get("/api/v1/customers/cus_1/users?at=nope").json()["error"]["fields"]
        assert "at" in api.delete("/api/v1/customers/cus_1/users/ann?at=nope").json()["error"]["fields"]

    def test_unknown_users_and_other_merchants_are_404(self, api, customer, other_tenant):
        assert api.delete("/api/v1/customers/cus_1/users/ghost").status_code == 404
        assert api.get("/api/v1/customers/nobody/users").status_code == 404
        api.post("/api/v1/customers/cus_1/users", {"external_id": "ann"}, format="json")
        intruder = other_tenant.api
        assert intruder.get("/api/v1/customers/cus_1/users").status_code == 404
        assert intruder.post("/api/v1/customers/cus_1/users", {"external_id": "x"}, format="json").status_code == 404
        assert intruder.delete("/api/v1/customers/cus_1/users/ann").status_code == 404
        assert CustomerUser.objects.get().deprovisioned_at is None

    def test_a_customer_with_users_is_archived_not_deleted(self, api, customer):
        api.post("/api/v1/customers/cus_1/users", {"external_id": "ann"}, format="json")
        assert api.delete("/api/v1/customers/cus_1").status_code == 200
        response = api.post("/api/v1/customers/cus_1/users", {"external_id": "bob"}, format="json")
        assert response.status_code == 409
