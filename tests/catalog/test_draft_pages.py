"""Editing a draft plan in the cockpit: the tier editor, plan features, one-time fees; publishing; subscribers."""

from decimal import Decimal

import pytest

from billing.subscriptions.services import subscription_cancel
from catalog import services as catalog
from catalog.models import Plan, PlanFeature, PlanVersion
from catalog.rating import rate
from tests.cockpit.pagedata import api_catalog, login, login_viewer, make_customer, pro_plan, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def items(tenant):
    return api_catalog(tenant.merchant)


def draft_of(plan: Plan) -> PlanVersion:
    return plan.versions.order_by("-version").first()


def rows(*bands) -> dict:
    """The tier editor's rows as posted: one list per column (up_to, unit_amount, flat_amount, amount)."""
    columns = ("up_to", "unit_amount", "flat_amount", "amount")
    return {f"band_{name}": [band[index] if index < len(band) else "" for band in bands]
            for index, name in enumerate(columns)}  # fmt: skip


def charge_form(**changes) -> dict:
    return {"metric": "api_calls", "model": "tiered", "timing": "in_arrears", "included_units": "", **changes}


class TestTierEditor:
    def test_the_rows_of_an_existing_charge_are_shown_with_the_price_example(self, client, tenant, items):
        tiers = [{"up_to": "1000", "unit_amount": "0.02", "flat_amount": "0"},
                 {"up_to": None, "unit_amount": "0.01", "flat_amount": "5"}]  # fmt: skip
        charges = [{"metric": items["api_calls"], "model": "tiered", "params": {"tiers": tiers}}]
        pro_plan(tenant.merchant, items, publish=False, charges=charges)
        login(client, tenant)
        page = client.get("/plans/pro/charges/0/")
        assert page.context["band_rows"] == [
            {"up_to": "1000", "unit_amount": "0.02", "flat_amount": "0.00", "amount": ""},
            {"up_to": "", "unit_amount": "0.01", "flat_amount": "5.00", "amount": ""},
        ]
        content = page.content.decode()
        assert content.count('name="band_up_to"') == 2
        assert 'name="band_up_to" value="1000"' in content
        # 1,000 units: all in band 1 (20.00) and the flat fee of band 2 is not reached.
        assert page.context["example"] == "1,000 units cost 20.00 USD."
        assert 'data-price-example aria-live="polite">1,000 units cost 20.00 USD.</output>' in content

    def test_rows_are_saved_as_tiers_with_blank_rows_ignored(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False, charges=[])
        login(client, tenant)
        data = charge_form(**rows(("1000", "0.02", ""), ("", "", ""), ("5000", "0.01", "5"), ("", "0.005", "")))
        response = client.post("/plans/pro/charges/new/", data)
        assert response.status_code == 302
        assert draft_of(plan).charges.get().properties == {"tiers": [
            {"up_to": "1000", "unit_amount": "0.02", "flat_amount": "0.00"},
            {"up_to": "5000", "unit_amount": "0.01", "flat_amount": "5.00"},
            {"up_to": None, "unit_amount": "0.005", "flat_amount": "0.00"},
        ]}  # fmt: skip

    def test_stairstep_rows_use_the_step_fee_column(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False, charges=[])
        login(client, tenant)
        data = charge_form(model="stairstep", **rows(("10", "9", "9", "100"), ("", "", "", "50")))
        assert client.post("/plans/pro/charges/new/", data).status_code == 302
        assert draft_of(plan).charges.get().properties == {
            "steps": [{"up_to": "10", "amount": "100.00"}, {"up_to": None, "amount": "50.00"}]
        }

    def test_without_javascript_a_row_is_added_or_removed_and_nothing_is_saved(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        added = client.post("/plans/pro/charges/0/", charge_form(band_action="add", **rows(("1000", "0.02", ""))))
        assert added.status_code == 200
        assert [row["up_to"] for row in added.context["band_rows"]] == ["1000", ""]
        assert added.content.decode().count('name="band_up_to"') == 2
        removed = client.post(
            "/plans/pro/charges/0/", charge_form(band_action="remove-0", **rows(("1000", "0.02", ""), ("", "0.01", "")))
        )
        assert [row["unit_amount"] for row in removed.context["band_rows"]] == ["0.01"]
        assert draft_of(plan).charges.get().properties == {"unit_amount": "0.01"}

    @pytest.mark.parametrize(
        ("bands", "message"),
        [
            ((("1000", "0.02"), ("500", "0.01"), ("", "0.005")), "band 2, up_to: must be greater than the previous "
                                                                  "band's up_to (1000)"),
            ((("1000", "0.02"), ("", "")), "band 1, up_to: the last band must be open-ended (null)"),
            ((("", "0.02"), ("", "0.01")), "band 1, up_to: only the last band may be open-ended (null)"),
            ((("1000", "0.02"), ("", "", "")), "band 1, up_to: the last band must be open-ended (null)"),
            ((("1000", ""), ("", "0.01")), "band 1, unit_amount: is required unless flat_amount is given"),
            ((("-5", "0.02"), ("", "0.01")), "band 1, up_to: must be greater than 0"),
            ((("1000", "0.021"), ("", "0.01")), None),
            ((), "must have at least one band"),
        ],
    )  # fmt: skip
    def test_the_server_validates_the_rows_as_the_api_does(self, client, tenant, items, bands, message):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        response = client.post("/plans/pro/charges/0/", charge_form(**rows(*bands)))
        if message is None:  # 12 decimal places are allowed for unit prices, as in the API
            assert response.status_code == 302
            return
        assert response.status_code == 400
        errors = response.context["form"].errors
        assert message in " ".join(errors.get("bands", []) + errors.get("__all__", []))
        assert draft_of(plan).charges.get().properties == {"unit_amount": "0.01"}

    def test_the_page_and_the_api_refuse_the_same_bands_with_the_same_reason(self, client, tenant, items, api):
        pro_plan(tenant.merchant, items, publish=False)
        tiers = [{"up_to": "1000", "unit_amount": "0.02"}, {"up_to": "900", "unit_amount": "0.01"},
                 {"up_to": None, "unit_amount": "0.005"}]  # fmt: skip
        charges = [{"metric": "api_calls", "model": "tiered", "tiers": tiers}]
        answer = api.patch("/api/v1/plans/pro", {"charges": charges}, format="json")
        assert answer.status_code == 400
        reason = "must be greater than the previous band's up_to (1000)"
        assert answer.json()["error"]["fields"]["charges[0].tiers[1].up_to"] in (reason, [reason])
        login(client, tenant)
        form = charge_form(**rows(("1000", "0.02"), ("900", "0.01"), ("", "0.005")))
        page = client.post("/plans/pro/charges/0/", form)
        assert page.context["form"].errors["bands"] == [f"band 2, up_to: {reason}"]

    @pytest.mark.parametrize(
        ("model", "params", "units", "expected"),
        [
            ("volume", {"tiers": [{"up_to": "1000", "unit_amount": "0.02"}, {"up_to": None, "unit_amount": "0.01",
                                                                              "flat_amount": "5"}]},
             "1500", "1,500 units cost 20.00 USD."),
            ("package", {"package_size": "100", "amount": "7.5"}, "250", "250 units cost 22.50 USD."),
            ("per_unit", {"unit_amount": "0.0015"}, "1001", "1,001 units cost 1.50 USD."),
        ],
    )  # fmt: skip
    def test_the_server_side_example_is_the_rating_engines_amount(self, client, tenant, items, model, params, units,
                                                                  expected):  # fmt: skip
        from catalog.views import price_example

        charges = [{"metric": items["api_calls"], "model": model, "params": params}]
        plan = pro_plan(tenant.merchant, items, publish=False, charges=charges)
        charge = draft_of(plan).charges.get()
        assert price_example(charge, Decimal(units)) == expected
        rated = rate(model=model, params=charge.properties, currency="USD", quantity=Decimal(units))
        assert expected.endswith(f" {rated.amount} USD.")

    def test_the_example_says_the_cap_and_the_minimum(self, tenant, items):
        from catalog.views import price_example

        charges = [{"metric": items["api_calls"], "model": "per_unit", "params": {"unit_amount": "0.01"},
                    "minimum_amount": Decimal("20"), "maximum_amount": Decimal("50"), "included_units": Decimal("100")}]
        plan = pro_plan(tenant.merchant, items, publish=False, charges=charges)
        charge = draft_of(plan).charges.get()
        assert price_example(charge, Decimal("1100")) == (
            "1,100 units cost 10.00 USD. The minimum of 20.00 USD adds 10.00 USD."
        )
        assert price_example(charge, Decimal("9000")) == "9,000 units cost 50.00 USD (capped at 50.00 USD)."


class TestPlanFeatures:
    def test_a_feature_is_attached_edited_and_detached(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False, features=[])
        login(client, tenant)
        page = client.get("/plans/pro/features/new/")
        assert page.status_code == 200
        assert page.context["feature_kinds"] == {"api_calls_limit": "limit", "sso": "boolean"}
        data = {"feature": "api_calls_limit", "limit": "5000", "enforcement": "soft"}
        response = client.post("/plans/pro/features/new/", data)
        assert response.status_code == 302
        line = PlanFeature.objects.get(plan_version=draft_of(plan))
        assert (line.feature.key, line.limit, line.enforcement, line.enabled, line.value) == (
            "api_calls_limit", 5000, "soft", None, "",
        )  # fmt: skip
        assert client.post("/plans/pro/features/new/", {"feature": "sso", "enabled": "on"}).status_code == 302
        assert client.get("/plans/pro/features/0/").context["form"].initial["limit"] == "5000"
        edit = {"feature": "sso", "limit": "-1", "enforcement": "hard"}  # the feature itself cannot change
        assert client.post("/plans/pro/features/0/", edit).status_code == 302
        lines = {line.feature.key: line for line in PlanFeature.objects.filter(plan_version=draft_of(plan))}
        assert (lines["api_calls_limit"].limit, lines["api_calls_limit"].enforcement, lines["sso"].enabled) == (
            -1, "hard", True,
        )  # fmt: skip
        page = client.get("/plans/pro/").content.decode()
        assert "unlimited" in page and "+ Attach a feature" in page
        assert client.post("/plans/pro/features/1/remove/").status_code == 302
        assert list(PlanFeature.objects.filter(plan_version=draft_of(plan)).values_list("feature__key", flat=True)) == [
            "api_calls_limit"
        ]

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"feature": "api_calls_limit", "limit": ""}, "limit", "is required: 'api_calls_limit' is a limit feature"),
            ({"feature": "api_calls_limit", "limit": "many"}, "limit", "must be an integer"),
            ({"feature": "api_calls_limit", "limit": "-5"}, "limit", "greater than or equal to -1."),
            ({"feature": "sso", "enabled": "on"}, "feature", "'sso' is already in this draft: edit its line instead"),
            ({"feature": "nope", "limit": "1"}, "feature", "Select a valid choice"),
        ],
    )
    def test_bad_feature_lines_are_refused_with_the_field_named(self, client, tenant, items, data, field, message):
        plan = pro_plan(tenant.merchant, items, publish=False, features=[{"feature": items["sso"], "enabled": False}])
        login(client, tenant)
        response = client.post("/plans/pro/features/new/", {"enforcement": "hard", **data})
        assert response.status_code == 400
        assert message in " ".join(response.context["form"].errors[field])
        assert f'data-field="{field}"' in response.content.decode()
        assert list(PlanFeature.objects.filter(plan_version=draft_of(plan)).values_list("feature__key", "enabled")) == [
            ("sso", False)
        ]


class TestOneTimeFees:
    def test_a_fee_is_added_edited_and_removed(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        assert client.post("/plans/pro/fees/new/", {"name": "Migration", "amount": "1250.50"}).status_code == 302
        assert client.get("/plans/pro/fees/1/").context["form"].initial == {"name": "Migration", "amount": "1250.5"}
        assert client.post("/plans/pro/fees/0/", {"name": "Onboarding", "amount": "450"}).status_code == 302
        fees = list(draft_of(plan).one_time_fees.values_list("name", "amount"))
        assert fees == [("Onboarding", Decimal("450.00")), ("Migration", Decimal("1250.50"))]
        assert "1,250.50 USD" in client.get("/plans/pro/").content.decode()
        assert client.post("/plans/pro/fees/0/remove/").status_code == 302
        assert list(draft_of(plan).one_time_fees.values_list("name", flat=True)) == ["Migration"]

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"name": "Setup", "amount": "10.005"}, "amount", "has more decimal places than USD allows (2)"),
            ({"name": "Setup", "amount": "-1"}, "amount", "must not be negative"),
            ({"name": "Setup", "amount": "ten"}, "amount", "'ten' is not a decimal number"),
            ({"name": "", "amount": "10"}, "name", "This field is required."),
        ],
    )
    def test_bad_fees_are_refused_with_the_field_named(self, client, tenant, items, data, field, message):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        response = client.post("/plans/pro/fees/new/", data)
        assert response.status_code == 400
        assert message in " ".join(response.context["form"].errors[field])
        assert list(draft_of(plan).one_time_fees.values_list("name", "amount")) == [("Onboarding", Decimal("500.00"))]


class TestPublishedVersionsAreImmutable:
    @pytest.mark.parametrize(
        ("url", "data"),
        [
            ("/plans/pro/features/new/", {"feature": "sso", "enabled": "on"}),
            ("/plans/pro/features/0/", {"feature": "api_calls_limit", "limit": "1", "enforcement": "hard"}),
            ("/plans/pro/features/0/remove/", {}),
            ("/plans/pro/fees/new/", {"name": "Setup", "amount": "10"}),
            ("/plans/pro/fees/0/", {"name": "Setup", "amount": "10"}),
            ("/plans/pro/fees/0/remove/", {}),
            ("/plans/pro/charges/0/", charge_form(model="per_unit", unit_amount="9")),
        ],
    )
    def test_no_form_changes_a_published_version(self, client, tenant, items, url, data):
        plan = pro_plan(tenant.merchant, items)
        login(client, tenant)
        response = client.post(url, data, follow=True)
        assert "has no draft: start a new version to change it" in response.content.decode()
        version = draft_of(plan)
        assert version.status == "published"
        lines = list(version.plan_features.values_list("feature__key", "limit"))
        assert lines == [("api_calls_limit", 1000), ("sso", None)]
        assert list(version.one_time_fees.values_list("name", "amount")) == [("Onboarding", Decimal("500.00"))]
        assert version.charges.get().properties == {"unit_amount": "0.01"}

    def test_a_published_version_shows_no_edit_controls(self, client, tenant, items):
        pro_plan(tenant.merchant, items)
        login(client, tenant)
        content = client.get("/plans/pro/").content.decode()
        assert "Attach a feature" not in content and "Add a one-time fee" not in content and "Detach" not in content


class TestPublishing:
    def test_publishing_asks_first_and_says_what_it_freezes(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        detail = client.get("/plans/pro/").content.decode()
        assert 'href="/plans/pro/publish/" data-testid="publish">Publish v1</a>' in detail
        page = client.get("/plans/pro/publish/")
        assert page.status_code == 200
        content = page.content.decode()
        assert "Publishing freezes this version for good." in content
        assert "its 1 usage charge (api_calls), 2 features (api_calls_limit, sso) and 1 one-time fee;" in content
        assert "the definitions of the metrics it depends on (api_calls)" in content
        assert draft_of(plan).status == "draft"
        response = client.post("/plans/pro/publish/", follow=True)
        assert "Version 1 of pro published." in response.content.decode()
        assert draft_of(plan).status == "published"

    def test_the_confirmation_of_a_plan_without_a_draft_sends_back(self, client, tenant, items):
        pro_plan(tenant.merchant, items)
        login(client, tenant)
        response = client.get("/plans/pro/publish/", follow=True)
        assert "has no draft: start a new version" in response.content.decode()

    def test_a_viewer_cannot_open_the_confirmation_or_publish(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login_viewer(client, tenant)
        assert client.get("/plans/pro/publish/").status_code == 403
        assert client.post("/plans/pro/publish/").status_code == 403
        assert draft_of(plan).status == "draft"


class TestSubscriberCounts:
    @pytest.fixture
    def subscribed(self, tenant, items):
        """pro v1 with two active subscriptions and one cancelled; pro v2 with one; starter with none."""
        plan = pro_plan(tenant.merchant, items)
        pro_plan(tenant.merchant, items, code="starter")
        for name in ("acme", "beta", "gone"):
            subscribe(tenant.merchant, make_customer(tenant.merchant, name))
        subscription_cancel(subscription=plan.versions.get().subscriptions.get(customer__external_id="gone"),
                            effective="immediately")  # fmt: skip
        catalog.plan_version_create(plan=plan)
        catalog.plan_publish(plan=plan)
        subscribe(tenant.merchant, make_customer(tenant.merchant, "delta"))
        return plan

    def test_the_plan_list_counts_active_subscriptions_per_version(self, client, tenant, subscribed):
        login(client, tenant)
        response = client.get("/plans/")
        rows = {row["plan"].code: row for row in response.context["rows"]}
        assert (rows["pro"]["subscribers"], rows["pro"]["subscribers_by_version"]) == (3, [(2, 1), (1, 2)])
        assert (rows["starter"]["subscribers"], rows["starter"]["subscribers_by_version"]) == (0, [])
        content = response.content.decode()
        assert '<td class="num" data-testid="subscribers-pro"><strong>3</strong>' in content
        assert "<small>v2: 1</small>" in content and "<small>v1: 2</small>" in content

    def test_the_plan_page_counts_them_per_version(self, client, tenant, subscribed):
        login(client, tenant)
        response = client.get("/plans/pro/")
        content = response.content.decode()
        assert response.context["subscribers"] == 3
        assert '<span data-testid="subscribers-v1">2 active subscriptions</span>' in content
        assert '<span data-testid="subscribers-v2">1 active subscription</span>' in content
        assert '<dd data-testid="version-subscribers">1 active subscription</dd>' in content
        older = client.get("/plans/pro/", {"version": 1}).content.decode()
        assert '<dd data-testid="version-subscribers">2 active subscriptions</dd>' in older

    @pytest.mark.parametrize("customers", [2, 12])
    def test_counting_costs_no_query_per_plan_or_subscription(self, client, tenant, items, customers,
                                                              django_assert_max_num_queries):  # fmt: skip
        for number in range(customers):
            pro_plan(tenant.merchant, items, code=f"p{number:02d}")
            subscribe(tenant.merchant, make_customer(tenant.merchant, f"c{number:02d}"), plan=f"p{number:02d}")
        login(client, tenant)
        with django_assert_max_num_queries(9):
            response = client.get("/plans/")
        assert [row["subscribers"] for row in response.context["rows"]] == [1] * customers
        with django_assert_max_num_queries(11):  # + the plan's history
            assert client.get("/plans/p00/").context["subscribers"] == 1
