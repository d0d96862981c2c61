"""Subscriptions CSV import (SPEC §11.1): subscription_create's rules for every row, all rows or nothing, the API."""

from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.subscriptions.csv_import import subscriptions_import
from billing.subscriptions.models import Subscription
from catalog.models import Plan, PlanVersion
from tests.billing.test_invoices_helpers import at, customer, plan, subscribe

pytestmark = pytest.mark.django_db


def run(tenant, text: str | bytes, dry_run=False):
    data = text.encode() if isinstance(text, str) else text
    return subscriptions_import(merchant=tenant.merchant, data=data, dry_run=dry_run)


def errors(report) -> list[tuple]:
    return [(e.row, e.column, e.message) for e in report.errors]


def stored() -> list[tuple]:
    return sorted(
        Subscription.objects.values_list(
            "external_id", "customer__external_id", "plan_version__plan__code", "plan_version__version",
            "started_at", "trial_ends_at", "billing_anchor",
        )
    )  # fmt: skip


@pytest.fixture
def book(tenant):
    """Two USD customers, one EUR customer, a USD plan with a 14-day trial and a EUR plan."""
    m = tenant.merchant
    plan(m, "pro", base_fee="20.00", trial_days=14)
    plan(m, "euro", base_fee="20.00", currency="EUR")
    customer(m, "acme")
    customer(m, "globex")
    customer(m, "initech", currency="EUR")
    return m


GOOD = (
    "external_id,customer,plan,start_date,billing_anchor,trial_days\n"
    "s1,acme,pro,2025-10-01,,0\n"
    "s2,globex,pro,2025-11-15,anniversary,\n"
    "s3,initech,euro,2025-09-01T12:30:00Z,calendar,\n"
)


class TestCreating:
    def test_it_creates_every_row_with_subscription_creates_defaults(self, tenant, book):
        report = run(tenant, GOOD)
        assert report.ok, errors(report)
        assert (report.rows, report.counts()) == (3, {"created": 3, "unchanged": 0})
        assert stored() == [
            ("s1", "acme", "pro", 1, at(2025, 10, 1), None, "calendar"),
            ("s2", "globex", "pro", 1, at(2025, 11, 15), at(2025, 11, 29), "anniversary"),  # the plan's 14 days
            ("s3", "initech", "euro", 1, at(2025, 9, 1, 12, 30), None, "calendar"),
        ]
        sub = Subscription.objects.get(external_id="s2")
        assert (sub.billing_day, sub.timezone, sub.overrides, sub.merchant_id) == (1, "UTC", {}, tenant.merchant.pk)

    def test_a_date_is_midnight_in_the_merchants_time_zone_and_it_is_copied_with_the_billing_day(self, tenant, book):
        book.timezone, book.billing_day = "Europe/Paris", 26
        book.save()
        report = run(tenant, "external_id;customer;plan;start_date\ns1;acme;pro;2025-07-01\n")
        assert report.ok, errors(report)
        sub = Subscription.objects.get()
        assert sub.started_at == datetime(2025, 6, 30, 22, 0, tzinfo=UTC)
        assert (sub.timezone, sub.billing_day) == ("Europe/Paris", 26)

    def test_an_older_published_version_may_be_named_and_the_newest_is_the_default(self, tenant, book):
        v1 = PlanVersion.objects.get(plan__code="pro")
        v2 = PlanVersion.objects.create(
            merchant=book, plan=v1.plan, version=2, status="published", currency="USD", interval="month",
            base_fee="25.00", trial_days=0, published_at=timezone.now(),
        )  # fmt: skip
        text = (
            "external_id,customer,plan,plan_version,start_date\ns1,acme,pro,1,2025-10-01\ns2,globex,pro,,2025-10-01\n"
        )
        report = run(tenant, text)
        assert report.ok, errors(report)
        assert dict(Subscription.objects.values_list("external_id", "plan_version")) == {"s1": v1.pk, "s2": v2.pk}

    def test_a_dry_run_previews_what_would_be_created_and_writes_nothing(self, tenant, book):
        report = run(tenant, GOOD, dry_run=True)
        assert report.ok and report.counts() == {"created": 3, "unchanged": 0}
        assert report.changes[1] == {
            "row": 3, "external_id": "s2", "action": "create", "customer": "globex", "plan": "pro", "plan_version": 1,
            "started_at": "2025-11-15T00:00:00Z", "billing_anchor": "anniversary",
            "trial_ends_at": "2025-11-29T00:00:00Z",
        }  # fmt: skip
        assert Subscription.objects.count() == 0

    def test_uploading_the_same_file_again_changes_nothing(self, tenant, book):
        run(tenant, GOOD)
        before = stored()
        report = run(tenant, GOOD)
        assert report.ok, errors(report)
        assert report.counts() == {"created": 0, "unchanged": 3}
        assert stored() == before

    def test_new_rows_are_checked_against_the_subscriptions_already_stored(self, tenant, book):
        run(tenant, GOOD)
        report = run(tenant, GOOD + "s4,acme,pro,2026-01-01,,\n")
        assert errors(report) == [
            (5, "plan", "customer 'acme' already has subscription 's1' to plan 'pro' in that time")
        ]
        Subscription.objects.filter(external_id="s1").update(ends_at=at(2026, 1, 1))  # s1 ends where s4 starts
        report = run(tenant, GOOD + "s4,acme,pro,2026-01-01,,\n")
        assert report.ok and report.counts() == {"created": 1, "unchanged": 3}


class TestRefusing:
    def test_a_row_differing_from_the_stored_subscription_is_an_error_on_each_column_that_differs(self, tenant, book):
        run(tenant, GOOD)
        changed = GOOD.replace("s2,globex,pro,2025-11-15,anniversary,", "s2,globex,pro,2025-11-16,calendar,3")
        report = run(tenant, changed)
        tail = "subscriptions are changed with change_plan or cancel, not by upload"
        assert errors(report) == [
            (3, "start_date", f"subscription 's2' exists starting 2025-11-15T00:00:00Z; {tail}"),
            (3, "billing_anchor", f"subscription 's2' exists with anniversary periods; {tail}"),
            (3, "trial_days", f"subscription 's2' exists with a trial ending 2025-11-29T00:00:00Z; {tail}"),
        ]
        assert Subscription.objects.get(external_id="s2").started_at == at(2025, 11, 15)

    def test_every_rule_of_subscription_create_is_checked_and_nothing_is_written(self, tenant, book):
        v = PlanVersion.objects.get(plan__code="pro")
        PlanVersion.objects.create(merchant=book, plan=v.plan, version=2, status="draft", currency="USD",
                                   interval="month", base_fee="25.00")  # fmt: skip
        Plan.objects.filter(pk=plan(book, "old", base_fee="1.00").plan_id).update(archived_at=timezone.now())
        customer(book, "gone", archived_at=timezone.now())
        subscribe(book, book.customers.get(external_id="globex"), v, at(2025, 1, 1), external_id="kept")
        text = (
            "external_id,customer,plan,plan_version,start_date,billing_anchor,trial_days\n"
            "a1,nobody,pro,,2025-10-01,,\n"  # 2
            "a2,gone,pro,,2025-10-01,,\n"  # 3
            "a3,acme,missing,,2025-10-01,,\n"  # 4
            "a4,acme,old,,2025-10-01,,\n"  # 5
            "a5,acme,pro,2,2025-10-01,,\n"  # 6
            "a6,acme,pro,9,2025-10-01,,\n"  # 7
            "a7,initech,pro,,2025-10-01,,\n"  # 8
            "a8,globex,pro,,2025-10-01,,\n"  # 9
            "a9,acme,pro,,2025-10-01,,\n"  # 10
            "a10,acme,pro,,2026-10-01,,\n"  # 11
            "a11,acme,pro,,1999-12-31,,\n"  # 12
            "a12,acme,pro,,next tuesday,monthly,-1\n"  # 13
            "a9,acme,pro,,2025-10-01,,\n"  # 14
            "a/13,,pro,x,2025-10-01,,3651\n"  # 15
        )
        report = run(tenant, text)
        assert errors(report) == [
            (2, "customer", "no customer with external_id 'nobody'"),
            (3, "customer", "customer 'gone' is archived"),
            (4, "plan", "no plan with code 'missing'"),
            (5, "plan", "plan 'old' is archived and accepts no new subscriptions"),
            (6, "plan_version", "version 2 of plan 'pro' is a draft; publish it first"),
            (7, "plan_version", "plan 'pro' has no version 9"),
            (8, "plan", "plan 'pro' is priced in USD; customer 'initech' is billed in EUR"),
            (9, "plan", "customer 'globex' already has subscription 'kept' to plan 'pro' in that time"),
            (11, "plan", "customer 'acme' already has subscription 'a9' (row 10) to plan 'pro' in that time"),
            (12, "start_date", "must be between the years 2000 and 2999"),
            (13, "start_date", "'next tuesday' is not a date (2025-08-10) or an ISO 8601 datetime"),
            (13, "billing_anchor", "must be one of calendar, anniversary, or blank (calendar)"),
            (13, "trial_days", "must be a whole number from 0 to 3650, or blank"),
            (14, "external_id", "'a9' is already on row 10"),
            (15, "external_id", "must not contain '/' (it is used in URLs)"),
            (15, "customer", "is required"),
            (15, "plan_version", "must be a whole number from 1 to 2147483647, or blank"),
            (15, "trial_days", "must be a whole number from 0 to 3650, or blank"),
        ]
        assert list(Subscription.objects.values_list("external_id", flat=True)) == ["kept"]

    @pytest.mark.parametrize(
        "text, expected",
        [
            ("", [(None, "", "is empty: expected a header row naming external_id, customer, plan and start_date")]),
            ("external_id,customer,plan,start_date\n", [(None, "", "has a header on row 1 but no subscription rows")]),
            ("external_id,customer,plan,start,overrides\ns1,acme,pro,2025-10-01,\n", [
                (1, "start", "unknown column; known columns are external_id, customer, plan, start_date, "
                             "plan_version, billing_anchor, trial_days"),
                (1, "overrides", "unknown column; known columns are external_id, customer, plan, start_date, "
                                 "plan_version, billing_anchor, trial_days"),
                (1, "start_date", "required column is missing"),
            ]),
            ("external_id,customer,plan,start_date\ns1,acme,pro,2025-10-01,extra\n",
             [(2, "", "has 5 cells but the header names 4 columns")]),
            (b"external_id,customer,plan,start_date\ns1,acme,pro,2025-10-01\xff\n",
             [(None, "", "is not UTF-8 text (byte 59)")]),
        ],
    )  # fmt: skip
    def test_a_malformed_file_is_refused_whole(self, tenant, book, text, expected):
        assert errors(run(tenant, text)) == expected
        assert Subscription.objects.count() == 0


def test_it_reads_the_whole_file_in_a_few_queries_whatever_its_length(tenant, book):
    from customers.models import Customer

    now = timezone.now()
    Customer.objects.bulk_create(
        [Customer(merchant=book, external_id=f"c{n}", name=f"C{n}", currency="USD", created_at=now) for n in range(500)]
    )
    text = "external_id,customer,plan,start_date\n" + "".join(f"s{n},c{n},pro,2025-10-01\n" for n in range(500))
    ContentType.objects.get_for_model(Subscription)  # the audit entries' content type: read once per process
    with CaptureQueriesContext(connection) as queries:
        report = run(tenant, text)
    assert report.ok and report.counts() == {"created": 500, "unchanged": 0}
    assert Subscription.objects.count() == 500
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    # existing ids, customers, plans, versions, stored subscriptions; under the locks: customers, ids, subscriptions
    assert len(reads) == 8
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "billing_subscription"')]
    assert len(inserts) <= 500 // 50  # bulk: as many rows per statement as the database takes parameters
    audit = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "atlas_auditentry"')]
    assert 1 <= len(audit) <= 500 // 50  # one audit entry per subscription, bulk-inserted too


class TestApi:
    def upload(self, tenant, text: str, **data):
        file = SimpleUploadedFile("subscriptions.csv", text.encode(), content_type="text/csv")
        return tenant.api.post("/api/v1/subscriptions/import", {"file": file, **data}, format="multipart")

    def test_a_dry_run_answers_the_counts_and_changes_and_writes_nothing(self, tenant, book):
        response = self.upload(tenant, GOOD, dry_run="true")
        assert response.status_code == 200, response.content
        body = response.json()
        assert {k: body[k] for k in ("dry_run", "rows", "created", "unchanged", "changes_truncated")} == {
            "dry_run": True, "rows": 3, "created": 3, "unchanged": 0, "changes_truncated": False,
        }  # fmt: skip
        assert [change["external_id"] for change in body["changes"]] == ["s1", "s2", "s3"]
        assert Subscription.objects.count() == 0

    def test_an_import_creates_and_a_second_one_reports_unchanged(self, tenant, book):
        assert self.upload(tenant, GOOD).json() == {"dry_run": False, "rows": 3, "created": 3, "unchanged": 0}
        assert self.upload(tenant, GOOD).json() == {"dry_run": False, "rows": 3, "created": 0, "unchanged": 3}

    def test_errors_come_in_the_error_shape_by_row_and_column(self, tenant, book):
        response = self.upload(tenant, GOOD + "s4,nobody,pro,2025-10-01,,\ns5,acme,pro,2025-13-01,,\n")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["message"] == "Nothing was imported: row 5, column customer: no customer with external_id " \
                                   "'nobody' (and 1 more)"  # fmt: skip
        assert error["fields"] == {
            "rows[5].customer": "no customer with external_id 'nobody'",
            "rows[6].start_date": "'2025-13-01' is not a date (2025-08-10) or an ISO 8601 datetime",
        }
        assert error["errors"][0] == {
            "row": 5,
            "column": "customer",
            "message": "no customer with external_id 'nobody'",
        }
        assert error["error_count"] == 2
        assert Subscription.objects.count() == 0

    def test_a_missing_file_is_a_400_on_file(self, tenant, book):
        response = tenant.api.post("/api/v1/subscriptions/import", {}, format="multipart")
        assert response.status_code == 400 and "file" in response.json()["error"]["fields"]

    def test_another_merchants_customers_and_plans_are_unknown(self, tenant, other_tenant, book):
        response = self.upload(other_tenant, GOOD)
        assert response.status_code == 400
        assert response.json()["error"]["fields"]["rows[2].customer"] == "no customer with external_id 'acme'"
        assert response.json()["error"]["fields"]["rows[2].plan"] == "no plan with code 'pro'"


class TestCockpit:
    """The customers import page takes a subscriptions file too: recognised by its header, or chosen."""

    def upload(self, client, tenant, text: str, **data):
        client.login(username=tenant.user.username, password="correct-horse-battery")
        file = SimpleUploadedFile("book.csv", text.encode(), content_type="text/csv")
        return client.post("/customers/import/", {"file": file, **data})

    def test_the_form_labels_name_their_fields(self, client, tenant):
        client.login(username=tenant.user.username, password="correct-horse-battery")
        page = client.get("/customers/import/").content.decode()
        assert '<label for="id_file">CSV file:</label>' in page
        assert '<label for="id_kind">Kind of file:</label>' in page

    def test_a_subscriptions_header_gets_the_subscriptions_preview_then_confirm_imports_it(self, client, tenant, book):
        response = self.upload(client, tenant, GOOD)
        assert response.status_code == 200
        assert response.context["kind"] == "subscriptions"
        assert b"<strong>3</strong> subscriptions to create" in response.content
        assert b"<td>globex</td>" in response.content and b"2025-11-29T00:00:00Z" in response.content
        assert Subscription.objects.count() == 0
        confirm = response.context["confirm_form"].initial
        response = client.post("/customers/import/", confirm)
        assert response.status_code == 302
        assert [s[0] for s in stored()] == ["s1", "s2", "s3"]
        page = client.get(response["Location"])
        assert b"Imported 3 rows: 3 subscriptions created, 0 unchanged." in page.content
        assert page.context["done"] == {"kind": "subscriptions", "customers": ["acme", "globex", "initech"], "more": 0}
        assert b'<a href="/customers/globex/">globex</a>' in page.content

    def test_row_errors_of_a_subscriptions_file_are_shown_and_nothing_can_be_confirmed(self, client, tenant, book):
        response = self.upload(client, tenant, "external_id;customer;plan;start_date\ns1;nobody;pro;2025-10-01\n")
        assert response.status_code == 400
        assert (
            b"<td>2</td><td>customer</td><td>no customer with external_id &#x27;nobody&#x27;</td>" in response.content
        )
        assert "confirm_form" not in response.context

    def test_the_kind_may_be_chosen_instead_of_recognised(self, client, tenant, book):
        response = self.upload(client, tenant, "external_id,name\nc9,Nine\n", kind="subscriptions")
        assert response.status_code == 400
        assert [(e.row, e.column) for e in response.context["errors"]] == [
            (1, "name"), (1, "customer"), (1, "plan"), (1, "start_date"),
        ]  # fmt: skip

    def test_a_customers_header_still_gets_the_customers_import(self, client, tenant, book):
        response = self.upload(client, tenant, "external_id,name\nc9,Nine\n")
        assert response.context["kind"] == "customers"
        assert b"<strong>1</strong> to create" in response.content
