"""Browser tests of the catalog pages: a metric and a feature created from their forms, a draft's tiers edited with
the row editor and its live price example, a feature attached, publishing through the confirmation, and the
subscriber count that follows."""

from decimal import Decimal

import pytest
from django.utils import timezone

from billing.subscriptions.services import subscription_create
from catalog import services as catalog
from catalog.models import Feature, Metric, PlanFeature
from catalog.rating import rate
from customers.services import customer_create

pytestmark = pytest.mark.browser


def test_staff_create_a_metric_then_a_limit_feature_on_it(logged_in, live_server):
    page, tenant = logged_in
    page.goto(f"{live_server.url}/metrics/")
    form = page.locator("#new-metric form")
    form.locator("input[name=code]").fill("storage_gb")
    form.locator("input[name=name]").fill("Storage")
    form.locator("input[name=event_codes]").fill("storage")
    form.locator("select[name=aggregation]").select_option("max")
    form.locator("input[name=field]").fill("gb")
    form.locator("textarea[name=filters]").fill("region: eu, us")
    form.locator("button:has-text('Create metric')").click()
    page.wait_for_selector("text=Metric storage_gb created.")
    metric = Metric.objects.get(merchant=tenant.merchant, code="storage_gb")
    assert (metric.aggregation, metric.field, metric.filters) == ("max", "gb", {"region": ["eu", "us"]})

    page.goto(f"{live_server.url}/features/")
    form = page.locator("#new-feature form")
    form.locator("input[name=key]").fill("storage_limit")
    form.locator("input[name=name]").fill("Storage limit")
    form.locator("select[name=kind]").select_option("boolean")
    assert form.locator("select[name=metric]").is_hidden()  # only limit features have a metric
    form.locator("select[name=kind]").select_option("limit")
    form.locator("select[name=metric]").select_option("storage_gb")
    form.locator("input[name=default_limit]").fill("100")
    form.locator("button:has-text('Create feature')").click()
    page.wait_for_selector("text=Feature storage_limit created.")
    feature = Feature.objects.select_related("metric").get(merchant=tenant.merchant, key="storage_limit")
    assert (feature.kind, feature.metric.code, feature.default_limit) == ("limit", "storage_gb", 100)
    assert "Metric\nstorage_gb" in page.inner_text("[data-testid=feature-facts]")


@pytest.fixture
def draft(logged_in):
    """A draft plan "pro" with a tiered charge on API calls (1,000 at 0.02, then 0.01) and an SSO feature to attach."""
    page, tenant = logged_in
    metric = catalog.metric_create(merchant=tenant.merchant, code="api_calls", name="API calls", event_codes=["call"])
    catalog.feature_create(merchant=tenant.merchant, key="sso", name="SSO", kind="boolean")
    tiers = [{"up_to": "1000", "unit_amount": "0.02"}, {"up_to": None, "unit_amount": "0.01"}]
    plan = catalog.plan_create(
        merchant=tenant.merchant, code="pro", name="Pro",
        content={"currency": "USD", "base_fee": Decimal("49"),
                 "charges": [{"metric": metric, "model": "tiered", "params": {"tiers": tiers}}]},
    )  # fmt: skip
    return page, tenant, plan


def test_staff_edit_the_tiers_with_the_row_editor_and_see_the_price_live(draft, live_server):
    page, tenant, plan = draft
    page.goto(f"{live_server.url}/plans/pro/charges/0/")
    rows = page.locator("[data-band-row]")
    assert rows.count() == 2
    example = page.locator("[data-testid=price-example]")
    assert example.inner_text() == "1,000 units cost 20.00 USD."  # rendered by the server, recomputed by the script

    page.click("[data-add-band]")
    assert rows.count() == 3
    rows.nth(1).locator("[name=band_up_to]").fill("5000")
    rows.nth(1).locator("[name=band_flat_amount]").fill("5")
    rows.nth(2).locator("[name=band_unit_amount]").fill("0.005")
    page.fill("[data-example-units]", "7500")
    # 1,000 × 0.02 + 4,000 × 0.01 + 5 (band 2's flat fee) + 2,500 × 0.005 = 77.50
    assert example.inner_text() == "7,500 units cost 77.50 USD."
    tiers = [{"up_to": "1000", "unit_amount": "0.02"}, {"up_to": "5000", "unit_amount": "0.01", "flat_amount": "5"},
             {"up_to": None, "unit_amount": "0.005"}]  # fmt: skip
    assert rate(model="tiered", params={"tiers": tiers}, currency="USD", quantity=Decimal("7500")).amount == Decimal(
        "77.50"
    )
    page.fill("input[name=included_units]", "500")
    # 7,000 billable: 1,000 × 0.02 + 4,000 × 0.01 + 5 + 2,000 × 0.005 = 75.00
    assert example.inner_text() == "7,500 units cost 75.00 USD."
    page.select_option("select[name=model]", "volume")
    # Volume: all 7,000 billable units at band 3's 0.005 = 35.00
    assert example.inner_text() == "7,500 units cost 35.00 USD."
    page.select_option("select[name=model]", "tiered")
    page.fill("input[name=included_units]", "")

    page.click("button:has-text('Save charge')")
    page.wait_for_selector("text=Charge on api_calls saved.")
    assert plan.versions.get().charges.get().properties == {"tiers": [
        {"up_to": "1000", "unit_amount": "0.02", "flat_amount": "0.00"},
        {"up_to": "5000", "unit_amount": "0.01", "flat_amount": "5.00"},
        {"up_to": None, "unit_amount": "0.005", "flat_amount": "0.00"},
    ]}  # fmt: skip

    page.goto(f"{live_server.url}/plans/pro/charges/0/")
    assert [row.locator("[name=band_up_to]").input_value() for row in rows.all()] == ["1000", "5000", ""]
    assert [row.locator("[name=band_unit_amount]").input_value() for row in rows.all()] == ["0.02", "0.01", "0.005"]
    page.fill("[data-example-units]", "7500")
    assert example.inner_text() == "7,500 units cost 77.50 USD."

    # Removing a row prices without it at once.
    rows.nth(1).locator("[data-remove-band]").click()
    assert rows.count() == 2
    assert example.inner_text() == "7,500 units cost 52.50 USD."  # 1,000 × 0.02 + 6,500 × 0.005

    # Enter in a band's cell saves the form (it does not press the first row's "Remove").
    rows.nth(0).locator("[name=band_unit_amount]").press("Enter")
    page.wait_for_selector("text=Charge on api_calls saved.")
    assert plan.versions.get().charges.get().properties == {"tiers": [
        {"up_to": "1000", "unit_amount": "0.02", "flat_amount": "0.00"},
        {"up_to": None, "unit_amount": "0.005", "flat_amount": "0.00"},
    ]}  # fmt: skip


def test_staff_attach_a_feature_publish_with_confirmation_and_see_the_subscriber(draft, live_server):
    page, tenant, plan = draft
    page.goto(f"{live_server.url}/plans/pro/")
    page.click("text=+ Attach a feature")
    page.select_option("select[name=feature]", "sso")
    assert page.locator("input[name=limit]").is_hidden()  # a boolean feature is on or off
    page.check("input[name=enabled]")
    page.click("button:has-text('Add feature')")
    page.wait_for_selector("text=Feature sso added.")
    assert "enabled" in page.inner_text("[data-testid=features]")
    line = PlanFeature.objects.get(plan_version__plan=plan)
    assert (line.feature.key, line.enabled) == ("sso", True)

    page.click("[data-testid=publish]")
    confirmation = page.inner_text("[data-testid=publish-confirmation]")
    assert "Publishing freezes this version for good." in confirmation
    assert plan.versions.get().status == "draft"  # asking is not publishing
    page.click("[data-testid=confirm-publish]")
    page.wait_for_selector("text=Version 1 of pro published.")
    assert plan.versions.get().status == "published"
    assert page.inner_text("[data-testid=subscribers-v1]") == "0 active subscriptions"

    customer_create(merchant=tenant.merchant, external_id="acme", name="Acme")
    subscription_create(merchant=tenant.merchant, external_id="sub_acme", customer="acme", plan="pro",
                        start_date=timezone.now().date())  # fmt: skip
    page.goto(f"{live_server.url}/plans/")
    assert page.inner_text("[data-testid=subscribers-pro]").split() == ["1", "v1:", "1"]
    page.goto(f"{live_server.url}/plans/pro/")
    assert page.inner_text("[data-testid=subscribers-v1]") == "1 active subscription"


def test_the_live_example_agrees_with_the_rating_engine_for_every_model_it_prices(logged_in, live_server):
    """The script's arithmetic against the server's (catalog.views.price_example, from catalog/rating.py)."""
    from catalog.views import price_example

    page, tenant = logged_in
    tiers = [{"up_to": "10", "unit_amount": "0.333", "flat_amount": "1.5"},
             {"up_to": "100.5", "unit_amount": "0.125"}, {"up_to": None, "unit_amount": "0.0001", "flat_amount": "3"}]
    charges = {
        "tiered": ({"tiers": tiers}, {"included_units": Decimal("2")}),
        "volume": ({"tiers": tiers}, {"maximum_amount": Decimal("40")}),
        "stairstep": ({"steps": [{"up_to": "5", "amount": "10"}, {"up_to": None, "amount": "2.5"}]}, {}),
        "package": ({"package_size": "25", "amount": "4.99"}, {"minimum_amount": Decimal("12")}),
        "per_unit": ({"unit_amount": "0.000125"}, {}),
        "flat": ({"amount": "15"}, {"included_units": Decimal("3")}),
        "percentage": ({"rate": "0.029", "fixed_amount": "0.30"}, {}),
    }  # fmt: skip
    content = []
    for model, (params, extra) in charges.items():
        aggregation = {"aggregation": "sum", "field": "amount"} if model == "percentage" else {}
        metric = catalog.metric_create(merchant=tenant.merchant, code=f"m_{model}", name=model, event_codes=["e"],
                                       **aggregation)  # fmt: skip
        content.append({"metric": metric, "model": model, "params": params, **extra})
    plan = catalog.plan_create(merchant=tenant.merchant, code="every", name="Every",
                               content={"currency": "USD", "charges": content})  # fmt: skip
    for index, charge in enumerate(plan.versions.get().charges.order_by("position")):
        page.goto(f"{live_server.url}/plans/every/charges/{index}/")
        for units in ("0", "1", "2", "10", "12.5", "100.5", "101", "1234.5678", "1000000"):
            page.fill("[data-example-units]", units)
            expected = price_example(charge, Decimal(units))
            assert " units cost " in expected  # the server priced it (an empty example means it could not)
            assert page.inner_text("[data-testid=price-example]") == expected, (charge.model, units)
