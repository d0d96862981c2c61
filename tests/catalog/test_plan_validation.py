"""Every invalid plan is a 400 naming the field (``charges[i].<param>``) and the reason, and writes nothing."""

import pytest

from catalog.models import Charge, OneTimeFee, Plan, PlanFeature, PlanVersion
from catalog.services import metric_create
from tests.catalog.builders import spec_catalog, spec_plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(tenant):
    return spec_catalog(tenant.merchant)


def charge(index: int, **changes) -> dict:
    """The SPEC plan with charge ``index`` changed (a value of ``...`` removes the key)."""
    plan = spec_plan()
    plan["charges"][index].update(changes)
    plan["charges"][index] = {key: value for key, value in plan["charges"][index].items() if value is not ...}
    return plan


def feature(index: int, **changes) -> dict:
    plan = spec_plan()
    plan["features"][index] = {
        key: value for key, value in {**plan["features"][index], **changes}.items() if value is not ...
    }
    return plan


def tiers(*bands) -> dict:
    return charge(0, tiers=[{"up_to": up_to, "unit_amount": unit} for up_to, unit in bands])


CASES = {
    "an open band before the last": (
        tiers((None, "0.01"), (None, "0.005")),
        {"charges[0].tiers[0].up_to": "only the last band may be open-ended (null)"},
    ),
    "a bounded last band": (
        tiers(("100", "0.01"), ("200", "0.005")),
        {"charges[0].tiers[1].up_to": "the last band must be open-ended (null)"},
    ),
    "bands out of order": (
        tiers(("100", "0.01"), ("50", "0.008"), (None, "0.005")),
        {"charges[0].tiers[1].up_to": "must be greater than the previous band's up_to (100)"},
    ),
    "a negative price": (
        tiers(("100", "-0.01"), (None, "0.005")),
        {"charges[0].tiers[0].unit_amount": "must not be negative"},
    ),
    "a package size of zero": (charge(1, package_size="0"), {"charges[1].package_size": "must be greater than 0"}),
    "a missing parameter": (charge(1, amount=...), {"charges[1].amount": "is required"}),
    "a float amount in a charge": (
        charge(1, amount=5.0),
        {"charges[1].amount": 'must be a decimal string such as "12.50", not a float'},
    ),
    "a parameter of another model": (
        charge(1, unit_amount="0.01"),
        {"charges[1].unit_amount": "is not a parameter of the package model (expected package_size, amount)"},
    ),
    "an unknown pricing model": (
        charge(1, model="freemium"),
        {"charges[1].model": '"freemium" is not a valid choice.'},
    ),
    "an unknown metric": (charge(0, metric="nope"), {"charges[0].metric": "no metric with code 'nope'"}),
    "a matrix dimension the metric does not group by": (
        charge(2, dimensions=["country"], rows=[{"match": {"country": "fr"}, "unit_amount": "0.02"}]),
        {"charges[2].dimensions[0]": "'country' is not one of the metric's group_by properties (region)"},
    ),
    "a matrix row that does not match the dimensions": (
        charge(2, rows=[{"match": {"zone": "eu"}, "unit_amount": "0.02"}]),
        {"charges[2].rows[0].match": "keys must be exactly the dimensions (region); missing: region; unexpected: zone"},
    ),
    "a minimum above the maximum": (
        charge(1, minimum_amount="100.00", maximum_amount="50.00"),
        {"charges[1].minimum_amount": "must not be greater than maximum_amount (50.00)"},
    ),
    "a minimum with more decimals than the currency": (
        charge(1, minimum_amount="10.005"),
        {"charges[1].minimum_amount": "has more decimal places than USD allows (2)"},
    ),
    "a negative maximum": (charge(1, maximum_amount="-1"), {"charges[1].maximum_amount": "must not be negative"}),
    "negative included units": (charge(0, included_units="-5"), {"charges[0].included_units": "must not be negative"}),
    "included units with 11 decimals": (
        charge(0, included_units="0.00000000001"),
        {"charges[0].included_units": "has more than 10 decimal places"},
    ),
    "an in-advance tiered charge": (
        charge(0, timing="in_advance"),
        {"charges[0].timing": "in_advance is only for flat and package charges"},
    ),
    "a percentage of a count metric": (
        charge(0, model="percentage", rate="0.029", tiers=..., included_units=...),
        {"charges[0].metric": "a percentage charge needs a sum metric (of a money property); 'api_calls' is count"},
    ),
    "an unknown currency": (
        spec_plan(currency="XYZ"),
        {"currency": "'XYZ' is not an ISO 4217 currency code (such as USD, EUR, JPY)"},
    ),
    "a lowercase currency": (
        spec_plan(currency="usd"),
        {"currency": "'usd' is not an ISO 4217 currency code (such as USD, EUR, JPY)"},
    ),
    "no currency": (
        {key: value for key, value in spec_plan().items() if key != "currency"},
        {"currency": "This field is required."},
    ),
    "a float base fee": (
        spec_plan(base_fee=49.0),
        {"base_fee": 'must be a decimal string such as "12.50", not a float'},
    ),
    "a base fee with more decimals than the currency": (
        spec_plan(base_fee="49.001"),
        {"base_fee": "has more decimal places than USD allows (2)"},
    ),
    "a negative base fee": (spec_plan(base_fee="-1"), {"base_fee": "must not be negative"}),
    "an unknown interval": (spec_plan(interval="fortnight"), {"interval": '"fortnight" is not a valid choice.'}),
    "an interval count of zero": (
        spec_plan(interval_count=0),
        {"interval_count": "Ensure this value is greater than or equal to 1."},
    ),
    "a code with spaces": (
        spec_plan(code="pro plan"),
        {"code": "Use letters, digits, '_', '-', '.' and ':', starting with a letter or digit."},
    ),
    "an unknown feature": (feature(0, feature="nope"), {"features[0].feature": "no feature with key 'nope'"}),
    "a limit below -1": (
        feature(0, limit=-2),
        {"features[0].limit": "Ensure this value is greater than or equal to -1."},
    ),
    "a float limit": (feature(0, limit=1000.0), {"features[0].limit": "must be an integer"}),
    "a limit feature without a limit": (
        feature(0, limit=...),
        {"features[0].limit": "is required: 'api_calls_limit' is a limit feature"},
    ),
    "a limit on a boolean feature": (
        feature(1, limit=3),
        {"features[1].limit": "does not apply: 'sso' is a boolean feature (give enabled)"},
    ),
    "an enforcement on a value feature": (
        feature(2, enforcement="soft"),
        {"features[2].enforcement": "applies only to limit features; 'support_hours' is a value feature"},
    ),
    "the same feature twice": (
        spec_plan(features=[{"feature": "sso", "enabled": True}, {"feature": "sso", "enabled": False}]),
        {"features[1].feature": "repeats the feature of features[0]"},
    ),
    "a negative one-time fee": (
        spec_plan(one_time_fees=[{"name": "Setup", "amount": "-5"}]),
        {"one_time_fees[0].amount": "must not be negative"},
    ),
    "a one-time fee without a name": (
        spec_plan(one_time_fees=[{"amount": "5"}]),
        {"one_time_fees[0].name": "This field is required."},
    ),
}


def assert_nothing_written():
    assert Plan.objects.count() == 0
    assert PlanVersion.objects.count() == 0
    assert Charge.objects.count() == 0
    assert PlanFeature.objects.count() == 0
    assert OneTimeFee.objects.count() == 0


@pytest.mark.parametrize(("payload", "fields"), list(CASES.values()), ids=list(CASES))
def test_an_invalid_plan_is_a_400_naming_the_field_and_writes_nothing(api, catalog, payload, fields):
    response = api.post("/api/v1/plans", payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert error["fields"] == fields
    assert_nothing_written()


def test_every_error_of_a_plan_is_reported_at_once(api, catalog):
    payload = charge(0, tiers=[{"up_to": None, "unit_amount": "-1"}, {"up_to": "5", "unit_amount": "1"}])
    payload["charges"][1]["package_size"] = "0"
    payload["base_fee"] = "1.999"
    response = api.post("/api/v1/plans", payload, format="json")
    assert response.json()["error"]["fields"] == {
        "base_fee": "has more decimal places than USD allows (2)",
        "charges[0].tiers[0].up_to": "only the last band may be open-ended (null)",
        "charges[0].tiers[0].unit_amount": "must not be negative",
        "charges[0].tiers[1].up_to": "the last band must be open-ended (null)",
        "charges[1].package_size": "must be greater than 0",
    }
    assert_nothing_written()


def test_a_duplicate_code_is_a_400_on_code(api, catalog):
    assert api.post("/api/v1/plans", spec_plan(), format="json").status_code == 201
    response = api.post("/api/v1/plans", spec_plan(name="Pro again"), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"code": "a plan with code 'pro' already exists"}
    assert Plan.objects.get().name == "Pro"


def test_another_merchants_metric_is_unknown(api, catalog, other_tenant):
    metric_create(merchant=other_tenant.merchant, code="their_metric", name="Theirs", event_codes=["x"])
    response = api.post("/api/v1/plans", charge(0, metric="their_metric"), format="json")
    assert response.json()["error"]["fields"] == {"charges[0].metric": "no metric with code 'their_metric'"}
    assert_nothing_written()


def test_the_same_code_may_be_used_by_two_merchants(api, catalog, other_tenant):
    spec_catalog(other_tenant.merchant)
    assert api.post("/api/v1/plans", spec_plan(), format="json").status_code == 201
    assert other_tenant.api.post("/api/v1/plans", spec_plan(), format="json").status_code == 201


@pytest.mark.parametrize("body", [[], "pro", {"charges": "all"}, {"charges": [7]}])
def test_a_malformed_body_is_a_400_not_a_500(api, catalog, body):
    response = api.post("/api/v1/plans", body, format="json")
    assert response.status_code == 400
    assert_nothing_written()


def test_an_invalid_edit_of_the_draft_changes_nothing(api, catalog):
    api.post("/api/v1/plans", spec_plan(), format="json")
    response = api.patch(
        "/api/v1/plans/pro",
        {"base_fee": "10.00", "charges": [{"metric": "api_calls", "model": "per_unit", "unit_amount": "x"}]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"charges[0].unit_amount": "'x' is not a decimal number"}
    version = PlanVersion.objects.get()
    assert str(version.base_fee) == "49.0000"
    assert version.charges.count() == 3
