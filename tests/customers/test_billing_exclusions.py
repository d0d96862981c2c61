"""Who is billed on a date: go-live and departure, test customers, and merchant rules by glob pattern."""

from datetime import UTC, date, datetime

import pytest

from customers.models import BillingRule, Customer, CustomerUser
from customers.selectors import billing_exclusions

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant(tenant):
    return tenant.merchant


def customer(merchant, **fields):
    fields = {"external_id": "cus_1", "name": "Initech", **fields}
    return Customer.objects.create(merchant=merchant, **fields)


def rule(merchant, target, pattern, starts_on=None, ends_on=None):
    return BillingRule.objects.create(
        merchant=merchant, name=pattern, target=target, pattern=pattern, starts_on=starts_on, ends_on=ends_on
    )


def test_an_ordinary_customer_is_billable(merchant):
    exclusion = billing_exclusions(customer=customer(merchant), on=date(2025, 1, 1))
    assert (exclusion.billable, exclusion.reason, exclusion.excluded_users) == (True, "", frozenset())


def test_go_live_and_departure_dates(merchant):
    c = customer(merchant, billing_starts_on=date(2025, 2, 1), billing_ends_on=date(2025, 6, 1))
    assert billing_exclusions(customer=c, on=date(2025, 1, 31)).reason == "billing starts on 2025-02-01"
    assert billing_exclusions(customer=c, on=date(2025, 2, 1)).billable is True
    assert billing_exclusions(customer=c, on=date(2025, 5, 31)).billable is True
    assert billing_exclusions(customer=c, on=date(2025, 6, 1)).reason == "billing ended on 2025-06-01"


def test_test_customers_are_never_billed(merchant):
    exclusion = billing_exclusions(customer=customer(merchant, is_test=True), on=date(2025, 1, 1))
    assert (exclusion.billable, exclusion.reason) == (False, "test customer")


def test_customer_rules_match_name_or_external_id_case_insensitively_within_their_dates(merchant):
    rule(merchant, "customer", "*-TEST", starts_on=date(2025, 3, 1), ends_on=date(2025, 4, 1))
    by_id = customer(merchant, external_id="acme-test", name="Acme")
    by_name = customer(merchant, external_id="c2", name="Globex-Test")
    other = customer(merchant, external_id="c3", name="Initech")
    assert billing_exclusions(customer=by_id, on=date(2025, 2, 28)).billable is True
    assert billing_exclusions(customer=by_id, on=date(2025, 3, 1)).reason == "rule '*-TEST' (*-TEST)"
    assert billing_exclusions(customer=by_name, on=date(2025, 3, 31)).billable is False
    assert billing_exclusions(customer=by_name, on=date(2025, 4, 1)).billable is True
    assert billing_exclusions(customer=other, on=date(2025, 3, 15)).billable is True


def test_user_rules_list_excluded_users(merchant):
    rule(merchant, "user", "admin@*")
    rule(merchant, "user", "bot-*", ends_on=date(2025, 1, 1))
    c = customer(merchant)
    at = datetime(2024, 1, 1, tzinfo=UTC)
    for external_id, email in (("u1", "Admin@initech.test"), ("u2", "ann@initech.test"), ("bot-7", "")):
        CustomerUser.objects.create(
            merchant=merchant, customer=c, external_id=external_id, email=email, provisioned_at=at
        )
    assert billing_exclusions(customer=c, on=date(2024, 6, 1)).excluded_users == {"u1", "bot-7"}
    assert billing_exclusions(customer=c, on=date(2025, 1, 1)).excluded_users == {"u1"}


def test_another_merchants_rules_do_not_apply(merchant, other_tenant):
    rule(other_tenant.merchant, "customer", "*")
    assert billing_exclusions(customer=customer(merchant), on=date(2025, 1, 1)).billable is True
