"""The customer list and the customer page: search, filters, live usage, credits, invoices, users, rules."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.credit_notes.services import credit_note_issue
from billing.credits.services import credit_grant_create
from billing.display import date_text
from billing.models import CreditGrant, CreditLedgerEntry, Invoice
from billing.runs.engine import billing_run
from customers.models import CustomerUser, ProvisioningChange
from customers.services import billing_rule_create, customer_delete
from metering.provisioning import Actor, user_provision
from tests.cockpit.pagedata import (
    api_catalog,
    login,
    login_viewer,
    make_customer,
    pro_plan,
    send_events,
    subscribe,
)

pytestmark = pytest.mark.django_db

LIST_QUERIES = 7
DETAIL_QUERIES = 47  # + payments, the upcoming invoice, scoped limits and the history


@pytest.fixture
def items(tenant):
    return api_catalog(tenant.merchant)


@pytest.fixture
def acme(tenant, items):
    """Acme Corp on Pro (a 1,000-call limit) with 750 calls this period."""
    merchant = tenant.merchant
    pro_plan(merchant, items)
    customer = make_customer(merchant, "acme", name="Acme Corp", email="billing@acme.example")
    subscribe(merchant, customer)
    send_events(merchant, "acme", "api_call", 750)
    return customer


def foreign_customer(other_tenant):
    return make_customer(other_tenant.merchant, "globex_cust", name="Globex Customer")


# --- the list ------------------------------------------------------------------------------------------------------


class TestCustomerList:
    def test_it_lists_the_merchants_customers_with_plan_and_status(self, client, tenant, other_tenant, acme):
        make_customer(tenant.merchant, "idle", name="Idle Ltd")
        foreign_customer(other_tenant)
        login(client, tenant)
        response = client.get("/customers/")
        assert response.status_code == 200
        rows = {row["customer"].external_id: row for row in response.context["rows"]}
        assert set(rows) == {"acme", "idle"}
        assert [sub["plan"] for sub in rows["acme"]["subscriptions"]] == ["Pro"]
        assert rows["acme"]["status"] == ("active", "ok")
        assert rows["idle"]["status"] == ("no subscription", "muted")
        assert b"Globex Customer" not in response.content
        assert b'href="/customers/acme/"' in response.content

    def test_anonymous_visitors_are_sent_to_login(self, client, tenant):
        response = client.get("/customers/")
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("acme corp", {"acme"}),
            ("IDLE", {"idle"}),
            ("billing@acme", {"acme"}),
            ("nobody", set()),
        ],
    )
    def test_search_matches_name_external_id_and_email(self, client, tenant, acme, query, expected):
        make_customer(tenant.merchant, "idle", name="Quiet Ltd")
        login(client, tenant)
        response = client.get("/customers/", {"q": query})
        assert {row["customer"].external_id for row in response.context["rows"]} == expected

    def test_filters_test_archived_and_active_subscription(self, client, tenant, acme):
        merchant = tenant.merchant
        make_customer(merchant, "sandbox", name="Sandbox", is_test=True)
        make_customer(merchant, "idle", name="Idle")
        customer_delete(customer=make_customer(merchant, "gone", name="Gone"))  # no history: deleted
        archived = make_customer(merchant, "old", name="Old Co")
        send_events(merchant, "old", "api_call", 1)  # history: archived, not deleted
        customer_delete(customer=archived)
        login(client, tenant)

        def ids(**params):
            return {row["customer"].external_id for row in client.get("/customers/", params).context["rows"]}

        assert ids() == {"acme", "sandbox", "idle"}
        assert ids(test="yes") == {"sandbox"}
        assert ids(test="no") == {"acme", "idle"}
        assert ids(archived="include") == {"acme", "sandbox", "idle", "old"}
        assert ids(archived="only") == {"old"}
        assert ids(active="yes") == {"acme"}
        assert ids(active="no") == {"sandbox", "idle"}
        assert ids(active="yes", test="yes") == set()

    def test_it_pages_by_fifty(self, client, tenant):
        for number in range(55):
            make_customer(tenant.merchant, f"c{number:03d}", name=f"Customer {number:03d}")
        login(client, tenant)
        first = client.get("/customers/")
        assert len(first.context["rows"]) == 50
        assert b"Page 1 of 2" in first.content
        second = client.get("/customers/", {"page": 2})
        assert [row["customer"].external_id for row in second.context["rows"]] == [f"c{n:03d}" for n in range(50, 55)]

    def test_a_viewer_sees_the_list_but_no_import_link(self, client, tenant, acme):
        login_viewer(client, tenant)
        response = client.get("/customers/")
        assert response.status_code == 200
        assert b"Import from CSV" not in response.content
        assert client.post("/customers/").status_code == 403

    def test_the_import_page_still_answers(self, client, tenant):
        login(client, tenant)
        assert client.get("/customers/import/").status_code == 200

    @pytest.mark.parametrize("rows", [3, 30])
    def test_queries_do_not_grow_with_the_rows(self, client, tenant, items, rows, django_assert_max_num_queries):
        merchant = tenant.merchant
        pro_plan(merchant, items)
        for number in range(rows):
            subscribe(merchant, make_customer(merchant, f"c{number:02d}"))
        login(client, tenant)
        with django_assert_max_num_queries(LIST_QUERIES):
            response = client.get("/customers/", {"q": "c", "active": "yes"})
        assert len(response.context["rows"]) == rows


# --- the customer page ---------------------------------------------------------------------------------------------


class TestCustomerPage:
    def test_it_shows_subscriptions_with_plan_version_period_and_status(self, client, tenant, acme):
        login(client, tenant)
        response = client.get("/customers/acme/")
        assert response.status_code == 200
        [row] = response.context["subscriptions"]
        assert (row["subscription"].external_id, row["status"]) == ("sub_acme_pro", "active")
        content = response.content.decode()
        assert "Pro</a> <small>v1</small>" in content
        assert row["period"].start == row["subscription"].started_at
        tz = tenant.merchant.timezone
        assert f"{date_text(row['period'].start, tz)} → {date_text(row['period'].end, tz)}" in content

    def test_a_usage_bar_shows_usage_against_the_limit(self, client, tenant, acme):
        login(client, tenant)
        response = client.get("/customers/acme/")
        [limit] = response.context["limits"]["limits"]
        assert limit["meter"] == {"text": "750 / 1,000", "percent": 75, "tone": "", "unlimited": False}
        content = response.content.decode()
        assert '<div class="figures">750 / 1,000</div>' in content
        assert 'aria-valuenow="75"' in content
        # The current period's usage, at plan prices: 750 calls × $0.01.
        assert "7.50 USD" in content

    def test_a_trial_is_shown_on_the_subscription(self, client, tenant, items):
        merchant = tenant.merchant
        pro_plan(merchant, items, code="trial", trial_days=14)
        customer = make_customer(merchant, "newbie")
        subscription = subscribe(merchant, customer, "trial")
        login(client, tenant)
        response = client.get("/customers/newbie/")
        assert response.context["subscriptions"][0]["status"] == "trialing"
        assert f"until {date_text(subscription.trial_ends_at, merchant.timezone)}" in response.content.decode()

    def test_credits_show_balance_grants_and_ledger(self, client, tenant, acme):
        credit_grant_create(
            merchant=tenant.merchant, customer=acme, amount=Decimal("100.00"), currency="USD", reason="Welcome"
        )
        login(client, tenant)
        response = client.get("/customers/acme/")
        [balance] = response.context["credits"]["balances"]
        # 750 calls this period at $0.01 are drawn from the grant as they accrue (SPEC §6).
        assert (balance["balance"], balance["accrued_usage"], balance["available"]) == (
            "100.00 USD",
            "7.50 USD",
            "92.50 USD",
        )
        [entry] = response.context["credits"]["ledger"]
        assert (entry["entry"].kind, entry["amount"]) == ("grant", "100.00 USD")
        assert "Welcome" in response.content.decode()

    def test_invoices_link_to_the_invoice_page(self, client, tenant, items):
        merchant = tenant.merchant
        pro_plan(merchant, items, code="weekly", interval="week", charges=[], features=[], one_time_fees=[])
        customer = make_customer(merchant, "wk", created_days_ago=15)
        subscribe(merchant, customer, "weekly", start=(timezone.now() - timedelta(days=14)).date())
        billing_run(as_of=timezone.now(), merchant=merchant)
        invoices = list(Invoice.objects.filter(customer=customer).order_by("-period_start"))
        assert len(invoices) >= 2
        login(client, tenant)
        response = client.get("/customers/wk/")
        content = response.content.decode()
        assert [row["invoice"].pk for row in response.context["invoices"]] == [invoice.pk for invoice in invoices]
        for invoice in invoices:
            assert f'href="/invoices/{invoice.pk}/"' in content
        assert "49.00 USD" in content
        assert [row["credited"] for row in response.context["invoices"]] == ["—"] * len(invoices)
        first = invoices[-1]
        credit_note_issue(invoice=first, lines=[(first.lines.filter(amount__gt=0).first().pk, Decimal("9.00"))],
                          reason="billing_error", actor="test")  # fmt: skip
        rows = client.get("/customers/wk/").context["invoices"]
        assert [row["credited"] for row in rows] == ["—"] * (len(invoices) - 1) + ["9.00 USD"]

    def test_users_show_their_provisioning_history_and_who_made_it(self, client, tenant, acme):
        user_provision(customer=acme, external_id="u1", email="ann@acme.example", name="Ann", actor=Actor())
        login(client, tenant)
        response = client.get("/customers/acme/")
        content = response.content.decode()
        assert "Ann" in content and "ann@acme.example" in content
        assert "provisioned" in content and "by system" in content

    def test_billing_rule_status_says_why_a_customer_is_not_billed(self, client, tenant, acme):
        make_customer(tenant.merchant, "sandbox", is_test=True)
        billing_rule_create(merchant=tenant.merchant, name="Internal", target="customer", pattern="acme*")
        login(client, tenant)
        assert "Test customer" in client.get("/customers/sandbox/").content.decode()
        content = client.get("/customers/acme/").content.decode()
        assert "not billed" in content
        assert "Rule &#x27;Internal&#x27; (acme*)" in content

    def test_a_billable_customer_says_so(self, client, tenant, acme):
        login(client, tenant)
        response = client.get("/customers/acme/")
        assert response.context["exclusion"].billable is True
        assert '<span class="badge ok">billed</span>' in response.content.decode()

    def test_a_customer_without_a_subscription_is_not_called_billed(self, client, tenant, items):
        make_customer(tenant.merchant, "idle", name="Idle Co")
        login(client, tenant)
        response = client.get("/customers/idle/")
        content = response.content.decode()
        assert response.context["subscribed"] is False
        assert '<span class="badge muted">no subscription</span> <span>Nothing to bill today</span>' in content
        assert '<span class="badge ok">billed</span>' not in content
        assert "Excluded usage is still metered" not in content

    def test_anonymous_visitors_are_sent_to_login(self, client, tenant, acme):
        response = client.get("/customers/acme/")
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")

    def test_another_merchants_customer_is_not_found(self, client, tenant, other_tenant):
        foreign_customer(other_tenant)
        login(client, tenant)
        assert client.get("/customers/globex_cust/").status_code == 404
        assert client.get("/customers/nobody/").status_code == 404

    @pytest.mark.parametrize("rows", [3, 30])
    def test_queries_do_not_grow_with_users_credits_and_invoices(
        self, client, tenant, items, rows, django_assert_max_num_queries
    ):
        merchant = tenant.merchant
        pro_plan(merchant, items)
        pro_plan(merchant, items, code="weekly", interval="week", charges=[], features=[], one_time_fees=[])
        customer = make_customer(merchant, "big", created_days_ago=7 * rows + 1)
        subscribe(merchant, customer)
        subscribe(merchant, customer, "weekly", start=(timezone.now() - timedelta(days=7 * rows)).date())
        send_events(merchant, "big", "api_call", 750)
        for number in range(rows):
            user_provision(customer=customer, external_id=f"u{number}", actor=Actor())
            credit_grant_create(merchant=merchant, customer=customer, amount=Decimal("5.00"), currency="USD")
        billing_run(as_of=timezone.now(), merchant=merchant)
        assert Invoice.objects.filter(customer=customer).count() >= rows
        login(client, tenant)
        client.get("/customers/big/")  # builds the usage state once
        with django_assert_max_num_queries(DETAIL_QUERIES):
            response = client.get("/customers/big/")
        assert len(response.context["users"]) == rows
        assert "750 / 1,000" in response.content.decode()


# --- actions on the customer page ----------------------------------------------------------------------------------


class TestProvisioning:
    def test_an_admin_provisions_a_user_recorded_as_made_by_them(self, client, tenant, acme):
        login(client, tenant)
        response = client.post(
            "/customers/acme/users/",
            {"provision-external_id": "u42", "provision-email": "bob@acme.example", "provision-name": "Bob"},
        )
        assert response.status_code == 302
        assert response["Location"] == "/customers/acme/"
        user = CustomerUser.objects.get(customer=acme, external_id="u42")
        change = ProvisioningChange.objects.get(user=user)
        assert (change.action, change.actor_user, change.actor_label) == (
            "provisioned",
            tenant.user,
            f"user {tenant.user.username}",
        )
        assert f"by user {tenant.user.username}" in client.get("/customers/acme/").content.decode()

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"provision-external_id": ""}, "external_id", "This field is required."),
            ({"provision-external_id": "a/b"}, "external_id", "must be a non-empty id without '/'"),
            ({"provision-external_id": "u1", "provision-email": "nope"}, "email", "Enter a valid email address."),
            ({"provision-external_id": "u1", "provision-provisioned_at": "soon"}, "provisioned_at", "Enter a valid"),
        ],
    )
    def test_bad_input_is_refused_with_the_field_error(self, client, tenant, acme, data, field, message):
        login(client, tenant)
        response = client.post("/customers/acme/users/", data)
        assert response.status_code == 400
        assert message in " ".join(response.context["provision_form"].errors[field])
        assert f'data-field="{field}"' in response.content.decode()
        assert not CustomerUser.objects.filter(customer=acme).exists()

    def test_the_services_rules_come_back_on_the_field(self, client, tenant, acme):
        user_provision(customer=acme, external_id="u1", actor=Actor())
        login(client, tenant)
        response = client.post("/customers/acme/users/", {"provision-external_id": "u1"})
        assert response.status_code == 400
        assert response.context["provision_form"].errors["external_id"] == [
            "user 'u1' is already provisioned to this customer"
        ]
        future = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        response = client.post(
            "/customers/acme/users/", {"provision-external_id": "u2", "provision-provisioned_at": future}
        )
        assert response.status_code == 400
        assert response.context["provision_form"].errors["provisioned_at"] == ["must not be in the future"]
        assert CustomerUser.objects.filter(customer=acme).count() == 1

    def test_an_admin_deprovisions_a_user(self, client, tenant, acme):
        user = user_provision(customer=acme, external_id="u1", actor=Actor())
        login(client, tenant)
        response = client.post(f"/customers/acme/users/{user.pk}/deprovision/")
        assert response.status_code == 302
        user.refresh_from_db()
        assert user.deprovisioned_at is not None
        assert ProvisioningChange.objects.filter(user=user, action="deprovisioned", actor_user=tenant.user).exists()

    def test_deprovisioning_before_the_user_was_provisioned_is_refused(self, client, tenant, acme):
        user = user_provision(customer=acme, external_id="u1", actor=Actor())
        login(client, tenant)
        before = (user.provisioned_at - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
        response = client.post(f"/customers/acme/users/{user.pk}/deprovision/", {"deprovision-at": before})
        assert response.status_code == 400
        assert "must not be before the user was provisioned" in response.context["deprovision_form"].errors["at"][0]
        user.refresh_from_db()
        assert user.deprovisioned_at is None

    def test_another_merchants_user_cannot_be_deprovisioned(self, client, tenant, other_tenant, acme):
        foreign = foreign_customer(other_tenant)
        user = user_provision(customer=foreign, external_id="u1", actor=Actor())
        login(client, tenant)
        assert client.post(f"/customers/acme/users/{user.pk}/deprovision/").status_code == 404
        assert client.post(f"/customers/globex_cust/users/{user.pk}/deprovision/").status_code == 404
        assert client.post("/customers/globex_cust/users/", {"provision-external_id": "x"}).status_code == 404
        user.refresh_from_db()
        assert user.deprovisioned_at is None
        assert CustomerUser.objects.filter(customer=foreign).count() == 1

    def test_a_viewer_sees_the_page_but_cannot_change_anything(self, client, tenant, acme):
        user = user_provision(customer=acme, external_id="u1", actor=Actor())
        login_viewer(client, tenant)
        page = client.get("/customers/acme/")
        assert page.status_code == 200
        content = page.content.decode()
        assert (
            "Provision a user" not in content
            and "Grant credits" not in content
            and ">Deprovision</button>" not in content
        )
        assert client.post("/customers/acme/users/", {"provision-external_id": "u9"}).status_code == 403
        assert client.post(f"/customers/acme/users/{user.pk}/deprovision/").status_code == 403
        assert client.post("/customers/acme/credits/", {"grant-amount": "10.00"}).status_code == 403
        user.refresh_from_db()
        assert user.deprovisioned_at is None
        assert CustomerUser.objects.filter(customer=acme).count() == 1
        assert not CreditGrant.objects.exists()


class TestCreditGrants:
    def test_an_admin_grants_credits(self, client, tenant, acme):
        login(client, tenant)
        response = client.post(
            "/customers/acme/credits/", {"grant-amount": "250.00", "grant-priority": "10", "grant-reason": "Goodwill"}
        )
        assert response.status_code == 302
        grant = CreditGrant.objects.get(customer=acme)
        assert (grant.amount, grant.currency, grant.priority, grant.reason) == (
            Decimal("250.00"),
            "USD",
            10,
            "Goodwill",
        )
        assert CreditLedgerEntry.objects.get(grant=grant).amount == Decimal("250.00")
        assert "Goodwill" in client.get("/customers/acme/").content.decode()

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"grant-amount": ""}, "amount", "This field is required."),
            ({"grant-amount": "abc"}, "amount", "'abc' is not a decimal number"),
            ({"grant-amount": "-5"}, "amount", "must be greater than 0"),
            ({"grant-amount": "10.001"}, "amount", "has more decimals than USD allows"),
            ({"grant-amount": "10", "grant-currency": "XYZ"}, "currency", "is not an ISO 4217 currency code"),
            ({"grant-amount": "10", "grant-priority": "-1"}, "priority", "greater than or equal to 0"),
        ],
    )
    def test_bad_input_is_refused_with_the_field_error(self, client, tenant, acme, data, field, message):
        login(client, tenant)
        response = client.post("/customers/acme/credits/", data)
        assert response.status_code == 400
        assert message in " ".join(response.context["grant_form"].errors[field])
        assert f'data-field="{field}"' in response.content.decode()
        assert not CreditGrant.objects.exists()
        assert not CreditLedgerEntry.objects.exists()

    def test_another_merchants_customer_gets_no_credits(self, client, tenant, other_tenant):
        foreign_customer(other_tenant)
        login(client, tenant)
        assert client.post("/customers/globex_cust/credits/", {"grant-amount": "10.00"}).status_code == 404
        assert not CreditGrant.objects.exists()
