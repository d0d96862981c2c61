"""The customer form (New / Edit / Archive customer) and the subscription actions on the customer page (Subscribe,
Change plan, Cancel subscription) with the upcoming invoice: the services' rules, field errors, viewers, tenancy."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Invoice, InvoiceLine, Subscription
from customers.models import Customer
from tests.cockpit.pagedata import api_catalog, login, login_viewer, make_customer, pro_plan, send_events, subscribe

pytestmark = pytest.mark.django_db

NEW = {"external_id": "cus_new", "name": "New Co", "email": "ap@new.example", "currency": "usd", "tax_rate": "20"}


@pytest.fixture
def items(tenant):
    return api_catalog(tenant.merchant)


def month_start() -> datetime:
    now = timezone.now()
    return datetime(now.year, now.month, 1, tzinfo=UTC)


@pytest.fixture
def acme(tenant, items):
    """Acme (taxed at 20 %) on Pro since the 1st of this month, not billed yet, with 750 calls so far; Basic is
    a $19 plan to change to."""
    merchant = tenant.merchant
    pro_plan(merchant, items)
    pro_plan(merchant, items, code="basic", base_fee=Decimal("19.00"), one_time_fees=[])
    customer = make_customer(merchant, "acme", name="Acme Corp", tax_rate=Decimal("0.2"))
    subscribe(merchant, customer, start=month_start().date())
    send_events(merchant, "acme", "api_call", 750)
    return customer


def counts() -> tuple:
    return Customer.objects.count(), Subscription.objects.count(), Invoice.objects.count(), InvoiceLine.objects.count()


# --- New customer, Edit customer, Archive customer -------------------------------------------------------------


class TestCustomerForm:
    def test_the_form_labels_name_their_fields(self, client, tenant):
        login(client, tenant)
        page = client.get("/customers/new/").content.decode()
        for label in ("External ID", "Name", "Email", "Currency", "Tax rate (%)"):
            assert f">{label}</label>" in page
        assert "Leave blank to use the merchant&#x27;s default." in page

    def test_staff_create_a_customer_with_the_tax_rate_as_a_percentage(self, client, tenant):
        login(client, tenant)
        response = client.post("/customers/new/", NEW)
        assert response.status_code == 302
        assert response["Location"] == "/customers/cus_new/"
        customer = Customer.objects.get(merchant=tenant.merchant)
        assert (customer.external_id, customer.name, customer.email, customer.currency, customer.tax_rate) == (
            "cus_new", "New Co", "ap@new.example", "USD", Decimal("0.2")
        )

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"tax_rate": "120"}, "tax_rate", "Enter a percentage between 0 and 100."),
            ({"tax_rate": "-1"}, "tax_rate", "Enter a percentage between 0 and 100."),
            ({"tax_rate": "twenty"}, "tax_rate", "Enter a percentage such as 20 or 7.5."),
            ({"tax_rate": "NaN"}, "tax_rate", "Enter a percentage between 0 and 100."),
            ({"tax_rate": "7.12345"}, "tax_rate", "Use at most 4 decimal places (such as 7.6543)."),
            ({"currency": "EUX"}, "currency", "&#x27;EUX&#x27; is not a known ISO 4217 currency."),
            ({"email": "nope"}, "email", "&#x27;nope&#x27; is not a valid email address."),
            ({"external_id": "a/b"}, "external_id", "Must not contain &#x27;/&#x27; (it is used in URLs)."),
            ({"name": "  "}, "name", "This field is required."),
            ({"billing_starts_on": "2026-05-01", "billing_ends_on": "2026-04-01"}, "billing_ends_on",
             "Must be after billing_starts_on."),
        ],
    )  # fmt: skip
    def test_bad_input_is_an_error_next_to_the_field_and_writes_nothing(self, client, tenant, data, field, message):
        login(client, tenant)
        response = client.post("/customers/new/", {**NEW, **data})
        assert response.status_code == 400
        assert response.context["form"].has_error(field)
        assert f'data-field="{field}">{message}<' in response.content.decode()
        assert not Customer.objects.exists()

    def test_a_taken_external_id_is_the_services_error_on_the_field(self, client, tenant):
        make_customer(tenant.merchant, "cus_new")
        login(client, tenant)
        response = client.post("/customers/new/", NEW)
        assert response.status_code == 400
        errors = response.context["form"].errors
        assert errors["external_id"] == ["a customer with external_id 'cus_new' already exists"]
        assert Customer.objects.count() == 1

    def test_staff_edit_a_customer_and_a_blank_tax_rate_means_the_default(self, client, tenant):
        customer = make_customer(tenant.merchant, "cus_1", name="Old", tax_rate=Decimal("0.075"))
        login(client, tenant)
        page = client.get("/customers/cus_1/edit/")
        assert page.context["form"].initial["tax_rate"] == "7.5"
        changed = {**NEW, "external_id": "hijack", "name": "New", "tax_rate": ""}
        response = client.post("/customers/cus_1/edit/", changed)
        assert response.status_code == 302
        customer.refresh_from_db()
        assert (customer.external_id, customer.name, customer.tax_rate) == ("cus_1", "New", None)

    def test_the_currency_of_a_subscribed_customer_cannot_change(self, client, tenant, acme):
        login(client, tenant)
        response = client.post("/customers/acme/edit/", {**NEW, "name": "Acme Corp", "currency": "EUR"})
        assert response.status_code == 400
        assert response.context["form"].errors["currency"] == [
            "cannot change the currency of a customer with subscriptions"
        ]
        acme.refresh_from_db()
        assert acme.currency == "USD"

    def test_archiving_a_customer_with_history_archives_it(self, client, tenant, acme):
        login(client, tenant)
        assert "so it is archived, not deleted" in client.get("/customers/acme/archive/").content.decode()
        response = client.post("/customers/acme/archive/")
        assert response["Location"] == "/customers/acme/"
        acme.refresh_from_db()
        assert acme.archived_at is not None

    def test_archiving_a_customer_without_history_deletes_it(self, client, tenant):
        make_customer(tenant.merchant, "cus_1")
        login(client, tenant)
        response = client.post("/customers/cus_1/archive/")
        assert response["Location"] == "/customers/"
        assert not Customer.objects.exists()

    @pytest.mark.parametrize("path", ["/customers/new/", "/customers/acme/edit/", "/customers/acme/archive/",
                                      "/customers/acme/subscribe/",
                                      "/customers/acme/subscriptions/sub_acme_pro/change-plan/",
                                      "/customers/acme/subscriptions/sub_acme_pro/cancel/"])  # fmt: skip
    def test_a_viewer_can_neither_open_nor_post_the_forms(self, client, tenant, acme, path):
        login_viewer(client, tenant)
        before = counts()
        assert client.get(path).status_code == 403
        data = {**NEW, "plan": "basic", "effective": "immediately", "confirm": "1"}
        assert client.post(path, data).status_code == 403
        assert counts() == before
        page = client.get("/customers/acme/").content.decode()
        for control in ("Subscribe", "Change plan", "Cancel subscription", "Edit customer", "Archive customer"):
            assert f">{control}</a>" not in page

    @pytest.mark.parametrize("path", ["/customers/globex/edit/", "/customers/globex/archive/",
                                      "/customers/globex/subscribe/",
                                      "/customers/globex/subscriptions/sub_globex_pro/change-plan/",
                                      "/customers/globex/subscriptions/sub_globex_pro/cancel/",
                                      "/customers/acme/subscriptions/sub_globex_pro/cancel/"])  # fmt: skip
    def test_another_merchants_customer_or_subscription_is_not_found(self, client, tenant, other_tenant, acme, path):
        other = other_tenant.merchant
        pro_plan(other, api_catalog(other))
        subscribe(other, make_customer(other, "globex"))
        login(client, tenant)
        before = counts()
        assert client.get(path).status_code == 404
        assert client.post(path, {**NEW, "plan": "pro", "effective": "immediately", "confirm": "1"}).status_code == 404
        assert counts() == before

    def test_the_forms_refuse_a_post_without_the_csrf_token(self, tenant):
        from django.test import Client

        client = Client(enforce_csrf_checks=True)
        login(client, tenant)
        assert client.post("/customers/new/", NEW).status_code == 403
        assert not Customer.objects.exists()


# --- Subscribe, Change plan, Cancel subscription, Upcoming invoice ---------------------------------------------


def upcoming_totals(page: str) -> list[str]:
    return [cell.split("<")[0] for cell in page.split('data-testid="total"><strong>')[1:]]


class TestSubscriptionActions:
    def test_the_customer_page_shows_the_upcoming_invoice_to_the_cent(self, client, tenant, acme):
        login(client, tenant)
        response = client.get("/customers/acme/")
        [upcoming] = response.context["upcoming"]
        assert [(line["description"], line["amount"]) for line in upcoming["lines"]] == [
            ("Pro base fee", "49.00 USD"),
            ("Onboarding", "500.00 USD"),
        ]
        assert (upcoming["subtotal"], upcoming["tax"], upcoming["total"]) == ("549.00 USD", "109.80 USD", "658.80 USD")
        assert ">Upcoming invoice</h2>" in response.content.decode()

    def test_staff_subscribe_a_customer(self, client, tenant, items):
        pro_plan(tenant.merchant, items)
        make_customer(tenant.merchant, "cus_1")
        login(client, tenant)
        form = client.get("/customers/cus_1/subscribe/")
        assert form.context["form"].initial["external_id"] == "sub_cus_1"
        for label in ("Plan", "Start date"):
            assert f">{label}</label>" in form.content.decode()
        response = client.post("/customers/cus_1/subscribe/", {
            "plan": "pro", "external_id": "sub_cus_1", "start_date": "2026-01-10", "billing_anchor": "anniversary",
            "trial_days": "14", "overrides": '{"charges": {"api_calls": {"unit_amount": "0.008"}}}',
        })  # fmt: skip
        assert response.status_code == 302, response.context["form"].errors
        sub = Subscription.objects.get(external_id="sub_cus_1")
        assert (sub.customer.external_id, sub.plan_version.plan.code, sub.started_at, sub.billing_anchor) == (
            "cus_1", "pro", datetime(2026, 1, 10, tzinfo=UTC), "anniversary"
        )
        assert (sub.trial_ends_at, sub.overrides) == (
            datetime(2026, 1, 24, tzinfo=UTC), {"charges": {"api_calls": {"unit_amount": "0.008"}}}
        )

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"plan": "pro"}, "plan",
             "customer &#x27;acme&#x27; already has subscription &#x27;sub_acme_pro&#x27; to plan &#x27;pro&#x27; in "
             "that time"),
            ({"plan_version": "7"}, "plan", "plan &#x27;basic&#x27; has no version 7"),
            ({"plan": "gold"}, "plan", "Select a valid choice. gold is not one of the available choices."),
            ({"external_id": "sub_acme_pro"}, "external_id",
             "a subscription with external_id &#x27;sub_acme_pro&#x27; exists"),
            ({"start_date": "1999-12-31"}, "start_date", "must be between the years 2000 and 2999"),
            ({"trial_days": "-1"}, "trial_days", "Ensure this value is greater than or equal to 0."),
            ({"overrides": '{"charges": {"api_calls": {"unit_amount": "x"}}}'}, "overrides",
             "charges.api_calls.unit_amount: &#x27;x&#x27; is not a decimal number"),
            ({"overrides": "[1]"}, "overrides", "Must be a JSON object such as"),
        ],
    )  # fmt: skip
    def test_subscribe_errors_come_back_on_the_field(self, client, tenant, acme, data, field, message):
        login(client, tenant)
        before = counts()
        post = {"plan": "basic", "external_id": "sub_new", "start_date": "2026-01-10", "billing_anchor": "calendar",
                **data}  # fmt: skip
        response = client.post("/customers/acme/subscribe/", post)
        assert response.status_code == 400
        assert response.context["form"].has_error(field), response.context["form"].errors
        assert message in response.content.decode()
        assert counts() == before

    def test_change_plan_shows_what_it_bills_then_changes_on_confirm(self, client, tenant, acme):
        login(client, tenant)
        url = "/customers/acme/subscriptions/sub_acme_pro/change-plan/"
        before = counts()
        preview = client.post(url, {"plan": "basic", "effective": "period_end"})
        assert preview.status_code == 200
        assert counts() == before  # the preview is rolled back
        shown = [(inv["title"], [(line["description"], line["amount"]) for line in inv["lines"]], inv["total"])
                 for inv in preview.context["preview"]["invoices"]]  # fmt: skip
        assert shown == [
            ("Invoice of sub_acme_pro", [("Pro base fee", "49.00 USD"), ("Onboarding", "500.00 USD")], "658.80 USD"),
            ("Final invoice of sub_acme_pro", [("API calls", "7.50 USD")], "9.00 USD"),  # 7.50 + 20 % tax
            ("First invoice of sub_acme_pro-2 (Basic)", [("Basic base fee", "19.00 USD")], "22.80 USD"),
        ]
        assert "Confirm plan change" in preview.content.decode()

        response = client.post(url, {"plan": "basic", "effective": "period_end", "confirm": "1"})
        assert response.status_code == 302
        old = Subscription.objects.get(external_id="sub_acme_pro")
        new = Subscription.objects.get(previous__isnull=False)
        assert (new.external_id, new.plan_version.plan.code, new.started_at) == ("sub_acme_pro-2", "basic", old.ends_at)
        assert Invoice.objects.count() == 0

    def test_change_plan_to_the_same_version_is_the_services_error(self, client, tenant, acme):
        login(client, tenant)
        response = client.post("/customers/acme/subscriptions/sub_acme_pro/change-plan/",
                               {"plan": "pro", "effective": "immediately"})  # fmt: skip
        assert response.status_code == 400
        assert response.context["form"].errors["plan"] == ["the subscription is already on this plan version"]

    def test_cancel_shows_the_final_invoice_then_cancels_on_confirm(self, client, tenant, acme):
        login(client, tenant)
        url = "/customers/acme/subscriptions/sub_acme_pro/cancel/"
        before = counts()
        preview = client.post(url, {"effective": "period_end"})
        assert counts() == before
        assert [inv["total"] for inv in preview.context["preview"]["invoices"]] == ["658.80 USD", "9.00 USD"]
        assert "Confirm cancellation" in preview.content.decode()
        assert client.post(url, {"effective": "period_end", "confirm": "1"}).status_code == 302
        sub = Subscription.objects.get(external_id="sub_acme_pro")
        assert sub.canceled_at is not None and sub.ends_at > timezone.now()
        # Cancelling again once a plan change is scheduled, or after the end, is the service's 409.
        client.post(url, {"effective": "immediately", "confirm": "1"})
        sub.refresh_from_db()
        again = client.post(url, {"effective": "immediately", "confirm": "1"})
        assert again.status_code == 409
        assert "has already ended" in again.context["form"].non_field_errors()[0]

    def test_a_bad_effective_value_is_a_field_error(self, client, tenant, acme):
        login(client, tenant)
        response = client.post("/customers/acme/subscriptions/sub_acme_pro/cancel/", {"effective": "tomorrow"})
        assert response.status_code == 400
        assert response.context["form"].has_error("effective")
        assert Subscription.objects.get().ends_at is None


def test_the_admins_add_subscription_points_to_the_cockpit_and_writes_nothing(client, tenant):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("root", "root@atlas.test", "pw-root-123"))
    response = client.get("/admin/billing/subscription/add/", follow=False)
    assert response.status_code == 302
    assert response["Location"] == "/customers/"
    assert client.post("/admin/billing/subscription/add/", {"external_id": "x"}).status_code == 302
    assert not Subscription.objects.exists()
    assert client.get("/admin/billing/invoice/add/").status_code == 403  # financial records stay read-only
