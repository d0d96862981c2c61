"""The one pager of the cockpit's lists (templates/_pagination.html, atlas/pagination.py): a count, the position,
previous and next, with the list's filters kept."""

import pytest

from tests.cockpit.pagedata import login, make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def many(tenant):
    for number in range(55):
        make_customer(tenant.merchant, f"c{number:03d}", name=f"Customer {number:03d}")
    make_customer(tenant.merchant, "zz-test", name="Zeta test", is_test=True)
    return tenant.merchant


def test_the_customers_list_shows_where_it_is_and_goes_both_ways(client, tenant, many):
    login(client, tenant)
    first = client.get("/customers/", {"test": "no"}).content.decode()
    assert "Showing 1–50 of 55 customers" in first
    assert '<span class="disabled" aria-disabled="true">‹ Previous</span>' in first
    assert '<a href="?test=no&amp;page=2" rel="next">Next ›</a>' in first
    second = client.get("/customers/", {"test": "no", "page": 2}).content.decode()
    assert "Showing 51–55 of 55 customers" in second
    assert '<a href="?test=no&amp;page=1" rel="prev">‹ Previous</a>' in second
    assert '<span class="disabled" aria-disabled="true">Next ›</span>' in second


def test_an_empty_list_says_so(client, tenant):
    login(client, tenant)
    assert "Nothing to show" in client.get("/customers/").content.decode()


def test_the_count_is_written_in_the_merchants_locale(client, tenant):
    for number in range(1_001):
        make_customer(tenant.merchant, f"c{number:04d}")
    tenant.merchant.locale = "de"
    tenant.merchant.save()
    login(client, tenant)
    assert "Showing 1–50 of 1.001 customers" in client.get("/customers/").content.decode()
