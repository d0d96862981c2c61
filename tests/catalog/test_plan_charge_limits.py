"""A plan version charges each metric once, and holds at most 50 charges (docs/catalog.md)."""

import pytest

from catalog.models import Charge, Plan
from tests.catalog.builders import spec_catalog, spec_plan

pytestmark = pytest.mark.django_db


def fields(response) -> dict:
    assert response.json()["error"]["type"] == "validation_error"
    return response.json()["error"]["fields"]


PER_CALL = {"metric": "api_calls", "model": "per_unit", "unit_amount": "0.01"}


def test_a_second_charge_on_a_metric_is_a_400_naming_it(api, tenant):
    spec_catalog(tenant.merchant)
    plan = spec_plan()
    plan["charges"].append(PER_CALL)
    response = api.post("/api/v1/plans", plan, format="json")
    assert response.status_code == 400
    assert fields(response) == {
        "charges[3].metric": "'api_calls' is already charged by charges[0]: one charge per metric "
        "(combine them, or charge a second metric with its own filters)"
    }
    assert not Plan.objects.exists()
    assert not Charge.objects.exists()


def test_a_thousand_identical_charges_are_a_400_on_charges(api, tenant):
    spec_catalog(tenant.merchant)
    response = api.post("/api/v1/plans", spec_plan(charges=[PER_CALL] * 1000), format="json")
    assert response.status_code == 400
    assert fields(response) == {"charges": "at most 50 charges per plan version"}
    assert not Plan.objects.exists()


def test_51_one_time_fees_are_a_400_on_one_time_fees(api, tenant):
    spec_catalog(tenant.merchant)
    fees = [{"name": f"Fee {index}", "amount": "1.00"} for index in range(51)]
    response = api.post("/api/v1/plans", spec_plan(one_time_fees=fees), format="json")
    assert response.status_code == 400
    assert fields(response) == {"one_time_fees": "at most 50 one-time fees per plan version"}
    assert not Plan.objects.exists()


def test_a_patch_repeating_a_metric_leaves_the_draft_as_it_was(api, tenant):
    spec_catalog(tenant.merchant)
    assert api.post("/api/v1/plans", spec_plan(), format="json").status_code == 201
    response = api.patch("/api/v1/plans/pro", {"charges": [PER_CALL, PER_CALL]}, format="json")
    assert response.status_code == 400
    assert list(fields(response)) == ["charges[1].metric"]
    assert list(Charge.objects.order_by("position").values_list("metric__code", flat=True)) == [
        "api_calls",
        "storage_gb",
        "requests_by_region",
    ]


def test_50_charges_on_50_metrics_are_accepted(api, tenant):
    from catalog import services

    for index in range(50):
        services.metric_create(merchant=tenant.merchant, code=f"m{index}", name=f"M{index}", event_codes=[f"e{index}"])
    charges = [{"metric": f"m{index}", "model": "per_unit", "unit_amount": "0.01"} for index in range(50)]
    response = api.post("/api/v1/plans", spec_plan(charges=charges, features=[]), format="json")
    assert response.status_code == 201
    assert Charge.objects.count() == 50
