"""The plans pages: list, versions, a readable rendering of every pricing model, draft editing, lifecycle."""

from decimal import Decimal

import pytest

from catalog import services as catalog
from catalog.models import Charge, Plan, PlanVersion
from tests.cockpit.pagedata import api_catalog, login, login_viewer, pro_plan

pytestmark = pytest.mark.django_db

LIST_QUERIES = 9
DETAIL_QUERIES = 11  # + the plan's history (entries and their actors)


@pytest.fixture
def items(tenant):
    return api_catalog(tenant.merchant)


@pytest.fixture
def every_model(tenant, items):
    """A draft with one charge of every pricing model (one charge per metric: each model its own "API calls")."""
    payments, requests = items["payments"], items["requests"]
    api_calls = {
        model: catalog.metric_create(
            merchant=tenant.merchant, code=f"api_calls_{model}", name="API calls", event_codes=["api_call"]
        )
        for model in ("volume", "per_unit", "package", "flat", "stairstep")
    }
    api_calls["tiered"] = items["api_calls"]
    tiers = [
        {"up_to": "10000", "unit_amount": "0.01", "flat_amount": "0"},
        {"up_to": None, "unit_amount": "0.005", "flat_amount": "20"},
    ]
    charges = [
        {
            "metric": api_calls["tiered"],
            "model": "tiered",
            "params": {"tiers": tiers},
            "included_units": Decimal("1000"),
        },
        {"metric": api_calls["volume"], "model": "volume", "params": {"tiers": tiers}},
        {"metric": api_calls["per_unit"], "model": "per_unit", "params": {"unit_amount": "0.002"}},
        {"metric": api_calls["package"], "model": "package", "params": {"package_size": "10", "amount": "5"}},
        {"metric": api_calls["flat"], "model": "flat", "params": {"amount": "15"}, "minimum_amount": Decimal("20")},
        {
            "metric": api_calls["stairstep"],
            "model": "stairstep",
            "params": {"steps": [{"up_to": "10", "amount": "100"}, {"up_to": None, "amount": "50"}]},
        },
        {
            "metric": requests,
            "model": "matrix",
            "params": {
                "dimensions": ["region"],
                "rows": [{"match": {"region": "eu"}, "unit_amount": "0.02"}],
                "default_unit_amount": "0.05",
            },
            "maximum_amount": Decimal("1000"),
        },
        {"metric": payments, "model": "percentage", "params": {"rate": "0.029", "fixed_amount": "0.30"}},
    ]
    return pro_plan(tenant.merchant, items, code="every", publish=False, charges=charges)


def draft_of(plan: Plan) -> PlanVersion:
    return plan.versions.order_by("-version").first()


def bands(*rows: tuple[str, str, str]) -> dict:
    """The tier editor's rows (up_to, unit_amount, flat_amount) as the form posts them: one list per column."""
    return {f"band_{name}": [row[column] for row in rows]
            for column, name in enumerate(("up_to", "unit_amount", "flat_amount"))}  # fmt: skip


def tiered_form(**changes) -> dict:
    """A new charge's form: on ``requests``, since the draft already charges ``api_calls`` (one charge per metric)."""
    return {
        "metric": "requests",
        "model": "tiered",
        "timing": "in_arrears",
        "included_units": "",
        **bands(("1000", "0.02", "0"), ("", "0.01", "0")),
        **changes,
    }


class TestPlanList:
    def test_it_lists_the_merchants_plans_with_their_versions(self, client, tenant, other_tenant, items):
        pro_plan(tenant.merchant, items)
        pro_plan(tenant.merchant, items, code="starter", publish=False)
        pro_plan(other_tenant.merchant, api_catalog(other_tenant.merchant), code="globex_plan")
        login(client, tenant)
        response = client.get("/plans/")
        assert response.status_code == 200
        rows = {row["plan"].code: row for row in response.context["rows"]}
        assert set(rows) == {"pro", "starter"}
        assert (rows["pro"]["latest"].version, rows["pro"]["published"].version) == (1, 1)
        assert rows["starter"]["published"] is None
        content = response.content.decode()
        assert "globex_plan" not in content
        assert 'href="/plans/pro/"' in content and "49.00 USD" in content

    def test_anonymous_visitors_are_sent_to_login(self, client, tenant):
        assert client.get("/plans/")["Location"].startswith("/login/")
        assert client.get("/plans/pro/")["Location"].startswith("/login/")

    def test_an_admin_creates_a_draft_plan(self, client, tenant):
        login(client, tenant)
        response = client.post("/plans/", {"code": "team", "name": "Team", "currency": "eur"})
        assert response.status_code == 302
        assert response["Location"] == "/plans/team/"
        version = PlanVersion.objects.get(plan__merchant=tenant.merchant, plan__code="team")
        assert (version.version, version.status, version.currency) == (1, "draft", "EUR")

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"code": "a b", "name": "X", "currency": "USD"}, "code", "Use letters, digits"),
            ({"code": "pro", "name": "X", "currency": "USD"}, "code", "a plan with code 'pro' already exists"),
            ({"code": "x", "name": "X", "currency": "ABC"}, "currency", "is not an ISO 4217 currency code"),
            ({"code": "x", "name": "", "currency": "USD"}, "name", "This field is required."),
        ],
    )
    def test_bad_plans_are_refused_with_the_field_error(self, client, tenant, items, data, field, message):
        pro_plan(tenant.merchant, items)
        login(client, tenant)
        response = client.post("/plans/", data)
        assert response.status_code == 400
        assert message in " ".join(response.context["form"].errors[field])
        assert list(Plan.objects.filter(merchant=tenant.merchant).values_list("code", flat=True)) == ["pro"]

    def test_a_viewer_sees_plans_but_cannot_create(self, client, tenant, items):
        pro_plan(tenant.merchant, items)
        login_viewer(client, tenant)
        response = client.get("/plans/")
        assert response.status_code == 200
        assert b"New plan" not in response.content
        assert client.post("/plans/", {"code": "x", "name": "X", "currency": "USD"}).status_code == 403
        assert Plan.objects.filter(merchant=tenant.merchant).count() == 1

    @pytest.mark.parametrize("rows", [3, 30])
    def test_queries_do_not_grow_with_the_plans(self, client, tenant, items, rows, django_assert_max_num_queries):
        for number in range(rows):
            pro_plan(tenant.merchant, items, code=f"p{number:02d}")
        login(client, tenant)
        with django_assert_max_num_queries(LIST_QUERIES):
            response = client.get("/plans/")
        assert len(response.context["rows"]) == rows


class TestPlanPage:
    def test_every_pricing_model_reads_as_a_sentence_or_a_table(self, client, tenant, every_model):
        login(client, tenant)
        response = client.get("/plans/every/")
        assert response.status_code == 200
        charges = response.context["charges"]
        assert [item["label"] for item in charges] == [
            "Tiered (graduated)", "Volume (bulk)", "Per unit", "Package", "Flat fee", "Stairstep", "Matrix",
            "Percentage",
        ]  # fmt: skip
        tiered = charges[0]
        assert tiered["table"] == {
            "headers": ["Above", "Up to (inclusive)", "Unit price", "Flat fee"],
            "rows": [["0", "10,000", "0.01 USD", "0.00 USD"], ["10,000", "∞", "0.005 USD", "20.00 USD"]],
        }
        assert "First 1,000 units included." in tiered["notes"]
        assert charges[2]["sentence"] == "0.002 USD per unit of API calls."
        assert charges[3]["sentence"] == (
            "5.00 USD per package of 10 units of API calls; a started package is billed in full."
        )
        assert "Minimum 20.00 USD a period." in charges[4]["notes"]
        assert charges[5]["table"]["rows"] == [["0", "10", "100.00 USD"], ["10", "∞", "50.00 USD"]]
        assert charges[6]["table"] == {"headers": ["region", "Unit price"], "rows": [["eu", "0.02 USD"]]}
        assert charges[6]["notes"][:2] == ["Any other group: 0.05 USD per unit.", "Capped at 1,000.00 USD a period."]
        assert charges[7]["sentence"] == "2.9% of Payments, plus 0.30 USD per event."
        content = response.content.decode()
        assert "<td>10,000</td><td>∞</td><td>0.005 USD</td><td>20.00 USD</td>" in content
        assert "2.9% of Payments, plus 0.30 USD per event." in content

    def test_features_fees_and_base_fee_are_shown(self, client, tenant, items):
        pro_plan(tenant.merchant, items, trial_days=14)
        login(client, tenant)
        response = client.get("/plans/pro/")
        content = response.content.decode()
        assert [item["text"] for item in response.context["features"]] == ["up to 1,000 (hard limit)", "enabled"]
        assert '<td>Onboarding</td><td class="num">500.00 USD</td>' in content
        assert "49.00 USD every month, billed in advance" in content
        assert "14 days" in content

    def test_version_history_and_an_older_version(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items)
        catalog.plan_version_create(plan=plan)
        catalog.plan_update(plan=plan, changes={"base_fee": Decimal("59.00")})
        login(client, tenant)
        latest = client.get("/plans/pro/")
        assert [version.version for version in latest.context["versions"]] == [2, 1]
        assert latest.context["base_fee"] == "59.00 USD"
        assert latest.context["editable"] is True
        older = client.get("/plans/pro/", {"version": 1})
        assert older.context["base_fee"] == "49.00 USD"
        assert older.context["editable"] is False
        assert b"Edit draft" not in older.content
        assert client.get("/plans/pro/", {"version": 7}).status_code == 404

    def test_another_merchants_plan_is_not_found(self, client, tenant, other_tenant):
        pro_plan(other_tenant.merchant, api_catalog(other_tenant.merchant), code="globex_plan")
        login(client, tenant)
        assert client.get("/plans/globex_plan/").status_code == 404
        assert client.post("/plans/globex_plan/publish/").status_code == 404
        assert client.get("/plans/globex_plan/charges/new/").status_code == 404

    @pytest.mark.parametrize("rows", [3, 30])
    def test_queries_do_not_grow_with_the_charges(self, client, tenant, items, rows, django_assert_max_num_queries):
        metrics = [
            catalog.metric_create(merchant=tenant.merchant, code=f"m{number}", name=f"M{number}", event_codes=["e"])
            for number in range(rows)
        ]
        charges = [
            {"metric": metric, "model": "per_unit", "params": {"unit_amount": f"0.{number:02d}"}}
            for number, metric in enumerate(metrics)
        ]
        plan = pro_plan(tenant.merchant, items, charges=charges)
        for _ in range(2):
            catalog.plan_version_create(plan=plan)
            catalog.plan_publish(plan=plan)
        login(client, tenant)
        with django_assert_max_num_queries(DETAIL_QUERIES):
            response = client.get("/plans/pro/")
        assert len(response.context["charges"]) == rows


class TestDraftEditing:
    def test_an_admin_saves_the_drafts_base_fields(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        data = {
            "name": "Pro 2026", "description": "For teams", "currency": "USD", "interval": "year",
            "interval_count": "1", "base_fee": "490.00", "base_fee_timing": "in_advance", "trial_days": "30",
        }  # fmt: skip
        response = client.post("/plans/pro/", data)
        assert response.status_code == 302
        plan.refresh_from_db()
        version = draft_of(plan)
        assert (plan.name, version.interval, version.base_fee, version.trial_days) == (
            "Pro 2026",
            "year",
            Decimal("490.00"),
            30,
        )

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("base_fee", "49.999", "has more decimal places than USD allows (2)"),
            ("base_fee", "-1", "greater than or equal to 0"),
            ("interval", "fortnight", "Select a valid choice"),
            ("currency", "usdollar", "Ensure this value has at most 3 characters"),
            ("trial_days", "x", "Enter a whole number."),
        ],
    )
    def test_bad_base_fields_are_refused_and_nothing_changes(self, client, tenant, items, field, value, message):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        data = {
            "name": "Changed", "currency": "USD", "interval": "month", "interval_count": "1", "base_fee": "49.00",
            "base_fee_timing": "in_advance", "trial_days": "0", field: value,
        }  # fmt: skip
        response = client.post("/plans/pro/", data)
        assert response.status_code == 400
        assert message in " ".join(response.context["form"].errors[field])
        assert f'data-field="{field}"' in response.content.decode()
        plan.refresh_from_db()
        assert plan.name == "Pro"
        assert draft_of(plan).base_fee == Decimal("49.00")

    def test_a_charge_is_added_through_the_form(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        assert client.get("/plans/pro/charges/new/").status_code == 200
        response = client.post("/plans/pro/charges/new/", tiered_form(included_units="100", description="Calls"))
        assert response.status_code == 302
        charge = draft_of(plan).charges.order_by("position").last()
        assert (charge.model, charge.included_units, charge.description) == ("tiered", Decimal("100"), "Calls")
        assert charge.properties == {
            "tiers": [
                {"up_to": "1000", "unit_amount": "0.02", "flat_amount": "0.00"},
                {"up_to": None, "unit_amount": "0.01", "flat_amount": "0.00"},
            ]
        }

    def test_a_matrix_charge_is_added_from_rows(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        data = {"metric": "requests", "model": "matrix", "timing": "in_arrears", "dimensions": "region",
                "rows": "eu, 0.02\nus, 0.03", "default_unit_amount": "0.05"}  # fmt: skip
        assert client.post("/plans/pro/charges/new/", data).status_code == 302
        charge = draft_of(plan).charges.get(model="matrix")
        assert charge.properties["rows"] == [
            {"match": {"region": "eu"}, "unit_amount": "0.02"},
            {"match": {"region": "us"}, "unit_amount": "0.03"},
        ]

    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            (bands(("1000", "0.02", "0"), ("500", "0.01", "0"), ("", "0.005", "0")), "bands",
             "band 2, up_to: must be greater than the previous band's up_to (1000)"),
            (bands(("1000", "0.02", "0"), ("2000", "0.01", "0")), "bands",
             "band 2, up_to: the last band must be open-ended"),
            (bands(("1000", "0.02", ""), ("", "", "")), "bands", "band 1, up_to: the last band must be open-ended"),
            (bands(("1000", "abc", ""), ("", "0.01", "")), "bands",
             "band 1, unit_amount: 'abc' is not a decimal number"),
            ({"model": "per_unit", "unit_amount": "abc"}, "unit_amount", "abc"),
            ({"model": "per_unit", "unit_amount": ""}, "unit_amount", "is required"),
            ({"model": "package", "package_size": "0", "amount": "5"}, "package_size", "must be greater than 0"),
            ({"model": "percentage", "rate": "0.03"}, "metric", "a percentage charge needs a sum metric"),
            ({"model": "matrix", "dimensions": "plan", "rows": "gold, 1"}, "dimensions",
             "'plan' is not one of the metric's group_by properties"),
            ({"model": "per_unit", "unit_amount": "1", "timing": "in_advance"}, "timing",
             "in_advance is only for flat and package charges"),
            ({"minimum_amount": "10.001"}, "minimum_amount", "has more decimal places than USD allows"),
            ({"metric": "nope"}, "metric", "Select a valid choice"),
        ],
    )  # fmt: skip
    def test_bad_charges_are_refused_with_the_field_named(self, client, tenant, items, changes, field, message):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        response = client.post("/plans/pro/charges/new/", tiered_form(**changes))
        assert response.status_code == 400
        assert message in " ".join(response.context["form"].errors[field])
        assert f'data-field="{field}"' in response.content.decode()
        assert list(draft_of(plan).charges.values_list("model", flat=True)) == ["per_unit"]

    def test_a_charge_is_edited_and_removed(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        form = client.get("/plans/pro/charges/0/")
        assert form.context["form"].initial["unit_amount"] == "0.01"
        response = client.post("/plans/pro/charges/0/", tiered_form(model="per_unit", unit_amount="0.03"))
        assert response.status_code == 302
        assert draft_of(plan).charges.get().properties == {"unit_amount": "0.03"}
        assert client.post("/plans/pro/charges/0/remove/").status_code == 302
        assert not draft_of(plan).charges.exists()
        assert client.get("/plans/pro/charges/3/").status_code == 404

    def test_a_published_plan_cannot_be_edited_and_says_so(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items)
        login(client, tenant)
        response = client.post("/plans/pro/charges/new/", tiered_form(), follow=True)
        assert "has no draft: start a new version" in response.content.decode()
        response = client.post("/plans/pro/charges/0/remove/", follow=True)
        assert "has no draft" in response.content.decode()
        assert Charge.objects.filter(plan_version__plan=plan).count() == 1


class TestLifecycle:
    def test_publish_then_start_a_new_version(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        page = client.get("/plans/pro/").content.decode()
        assert "Publish v1" in page
        response = client.post("/plans/pro/publish/", follow=True)
        assert "Version 1 of pro published." in response.content.decode()
        assert draft_of(plan).status == "published"
        response = client.post("/plans/pro/versions/", follow=True)
        assert "Draft version 2 started" in response.content.decode()
        draft = draft_of(plan)
        assert (draft.version, draft.status, draft.charges.count()) == (2, "draft", 1)

    def test_conflicts_come_back_as_messages(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items)
        login(client, tenant)
        response = client.post("/plans/pro/publish/", follow=True)
        assert "has no draft to publish: version 1 is already published" in response.content.decode()
        client.post("/plans/pro/versions/")
        response = client.post("/plans/pro/versions/", follow=True)
        assert "is still a draft" in response.content.decode()
        assert plan.versions.count() == 2

    def test_a_viewer_reads_but_cannot_change_plans(self, client, tenant, items):
        plan = pro_plan(tenant.merchant, items, publish=False)
        login_viewer(client, tenant)
        page = client.get("/plans/pro/")
        assert page.status_code == 200
        content = page.content.decode()
        assert "Publish v1" not in content and "Edit draft" not in content and "Add a charge" not in content
        assert client.post("/plans/pro/publish/").status_code == 403
        assert client.post("/plans/pro/versions/").status_code == 403
        assert client.post("/plans/pro/", {"name": "Hacked"}).status_code == 403
        assert client.get("/plans/pro/charges/new/").status_code == 403
        assert client.post("/plans/pro/charges/new/", tiered_form()).status_code == 403
        assert client.post("/plans/pro/charges/0/remove/").status_code == 403
        plan.refresh_from_db()
        assert plan.name == "Pro"
        version = draft_of(plan)
        assert (version.status, version.charges.count(), plan.versions.count()) == ("draft", 1, 1)
