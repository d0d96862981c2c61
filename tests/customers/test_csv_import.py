"""CSV import: every malformed case, all-or-nothing, upsert counts, the API and the cockpit form."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from atlas.models import Membership
from customers.csv_import import customers_import
from customers.models import Customer

pytestmark = pytest.mark.django_db


def run(tenant, text: str | bytes, dry_run=False):
    data = text.encode() if isinstance(text, str) else text
    return customers_import(merchant=tenant.merchant, data=data, dry_run=dry_run)


def errors(report) -> list[tuple]:
    return [(e.row, e.column, e.message) for e in report.errors]


def snapshot():
    return sorted(Customer.objects.values_list("external_id", "name", "email", "currency", "parent__external_id"))


GOOD = "external_id,name,email,currency\nc1,Acme,ap@acme.test,USD\nc2,Globex,,EUR\n"


class TestFormats:
    def test_it_creates_customers_and_reports_counts(self, tenant):
        report = run(tenant, GOOD)
        assert report.ok, errors(report)
        assert report.counts() == {"created": 2, "updated": 0, "unchanged": 0}
        assert snapshot() == [("c1", "Acme", "ap@acme.test", "USD", None), ("c2", "Globex", "", "EUR", None)]

    def test_a_utf8_bom_is_ignored(self, tenant):
        report = run(tenant, b"\xef\xbb\xbf" + "external_id,name\nc1,Café Ü\n".encode())
        assert report.ok, errors(report)
        assert Customer.objects.get().name == "Café Ü"

    def test_semicolons_are_detected(self, tenant):
        report = run(tenant, "external_id;name;tax_rate\nc1;Acme, Inc.;0.2\n")
        assert report.ok, errors(report)
        customer = Customer.objects.get()
        assert (customer.name, customer.tax_rate) == ("Acme, Inc.", Decimal("0.2"))

    def test_quoted_fields_keep_delimiters_quotes_and_newlines(self, tenant):
        text = 'external_id,name,address_line1\nc1,"Acme, ""The"" Company","1 Main St\nSuite 2"\n'
        report = run(tenant, text)
        assert report.ok, errors(report)
        customer = Customer.objects.get()
        assert customer.name == 'Acme, "The" Company'
        assert customer.address_line1 == "1 Main St\nSuite 2"

    def test_blank_lines_are_skipped_and_rows_keep_their_file_numbers(self, tenant):
        text = "\nexternal_id,name,email\n\nc1,Acme,\n  ,  ,\n\nc2,Globex,bad\n"
        report = run(tenant, text)
        assert errors(report) == [(7, "email", "'bad' is not a valid email address")]

    def test_crlf_line_endings(self, tenant):
        report = run(tenant, "external_id,name\r\nc1,Acme\r\nc2,Globex\r\n")
        assert report.ok and report.created == 2

    def test_metadata_columns_fill_metadata(self, tenant):
        report = run(tenant, "external_id,name,metadata.crm_id,metadata.segment\nc1,Acme,42,smb\n")
        assert report.ok, errors(report)
        assert Customer.objects.get().metadata == {"crm_id": "42", "segment": "smb"}


class TestErrorsWriteNothing:
    @pytest.fixture(autouse=True)
    def existing(self, tenant):
        assert run(tenant, "external_id,name,email\nold,Old Co,old@x.test\n").ok
        self.before = snapshot()
        yield
        assert snapshot() == self.before, "a failed import changed the database"

    def test_an_unknown_column_is_an_error(self, tenant):
        report = run(tenant, "external_id,name,emial\nc1,Acme,a@b.test\n")
        assert [(e.row, e.column) for e in report.errors] == [(1, "emial")]
        assert report.errors[0].message.startswith("unknown column; known columns are external_id, name, email")

    def test_a_missing_required_column_is_reported(self, tenant):
        report = run(tenant, "external_id,email\nc1,a@b.test\n")
        assert errors(report) == [(1, "name", "required column is missing")]

    def test_a_repeated_column_is_reported(self, tenant):
        report = run(tenant, "external_id,name,name\nc1,a,b\n")
        assert errors(report) == [(1, "name", "appears twice in the header")]

    def test_a_bad_email_is_reported_with_row_and_column(self, tenant):
        report = run(tenant, "external_id,name,email\nc1,Acme,ok@acme.test\nc2,Globex,not-an-email\n")
        assert errors(report) == [(3, "email", "'not-an-email' is not a valid email address")]

    def test_an_unknown_parent_is_reported(self, tenant):
        report = run(tenant, "external_id,name,parent\nc1,Acme,old\nc2,Globex,ghost\n")
        assert errors(report) == [(3, "parent", "no customer with external_id 'ghost'")]

    def test_a_duplicate_external_id_in_the_file_is_reported(self, tenant):
        report = run(tenant, "external_id,name\nc1,Acme\nc2,Globex\nc1,Acme again\n")
        assert errors(report) == [(4, "external_id", "'c1' is already on row 2")]

    def test_every_error_is_reported_at_once(self, tenant):
        text = (
            "external_id,name,currency,country,tax_rate,billing_starts_on,billing_ends_on,is_test\n"
            "c1,,ABC,USA,2,2025-13-01,,maybe\n"
            "c2,Ok,USD,US,0.1,2025-02-01,2025-01-01,no\n"
        )
        report = run(tenant, text)
        assert errors(report) == [
            (2, "name", "is required"),
            (2, "currency", "'ABC' is not a known ISO 4217 currency"),
            (2, "country", "'USA' is not an ISO 3166-1 alpha-2 country code"),
            (2, "tax_rate", "must be a fraction between 0 and 1 (0.2 is 20%)"),
            (2, "billing_starts_on", "'2025-13-01' is not a date (use YYYY-MM-DD)"),
            (2, "is_test", "must be true or false"),
            (3, "billing_ends_on", "must be after billing_starts_on"),
        ]

    def test_a_parent_cycle_is_reported(self, tenant):
        report = run(tenant, "external_id,name,parent\na,A,b\nb,B,a\nc,C,c\n")
        assert errors(report) == [
            (4, "parent", "a customer cannot be its own parent"),
        ]
        report = run(tenant, "external_id,name,parent\na,A,b\nb,B,a\n")
        assert errors(report) == [
            (2, "parent", "makes a reseller cycle: a → b → a"),
            (3, "parent", "makes a reseller cycle: a → b → a"),
        ]

    def test_a_cycle_through_a_stored_customer_is_reported(self, tenant):
        assert run(tenant, "external_id,name,parent\nmid,Mid,old\n").ok
        self.before = snapshot()
        report = run(tenant, "external_id,name,parent\nold,Old Co,mid\n")
        assert errors(report) == [(2, "parent", "makes a reseller cycle: old → mid → old")]

    def test_a_row_with_too_many_cells_is_reported(self, tenant):
        report = run(tenant, "external_id,name\nc1,Acme,extra\n")
        assert errors(report) == [(2, "", "has 3 cells but the header names 2 columns")]

    def test_non_utf8_and_empty_files_are_reported(self, tenant):
        assert errors(run(tenant, b"external_id,name\nc1,Caf\xe9\n")) == [(None, "", "is not UTF-8 text (byte 23)")]
        assert errors(run(tenant, b"")) == [(None, "", "is empty: expected a header row naming external_id and name")]
        assert errors(run(tenant, "external_id,name\n\n")) == [(None, "", "has a header on row 1 but no customer rows")]

    def test_a_good_row_is_not_written_when_another_fails(self, tenant):
        report = run(tenant, "external_id,name,email\nold,Renamed,old@x.test\nnew,New,bad@\n")
        assert not report.ok
        assert report.created == report.updated == 0


class TestUpsert:
    def test_it_updates_existing_customers_and_counts_unchanged(self, tenant):
        assert run(tenant, GOOD).ok
        report = run(
            tenant, "external_id,name,email,currency\nc1,Acme,ap@acme.test,USD\nc2,Globex Corp,,EUR\nc3,New,,\n"
        )
        assert report.ok, errors(report)
        assert report.counts() == {"created": 1, "updated": 1, "unchanged": 1}
        assert report.changes == [
            {"row": 3, "external_id": "c2", "action": "update", "fields": ["name"],
             "values": {"name": {"old": "Globex", "new": "Globex Corp"}}},
            {"row": 4, "external_id": "c3", "action": "create"},
        ]  # fmt: skip
        assert snapshot() == [
            ("c1", "Acme", "ap@acme.test", "USD", None),
            ("c2", "Globex Corp", "", "EUR", None),
            ("c3", "New", "", "USD", None),
        ]

    def test_re_uploading_the_same_file_changes_nothing(self, tenant):
        text = "external_id,name,tax_rate,billing_starts_on,is_test,parent\np,P,0.200,2025-01-01,true,\nc,C,,,no,p\n"
        assert run(tenant, text).ok
        report = run(tenant, text)
        assert report.counts() == {"created": 0, "updated": 0, "unchanged": 2}

    def test_columns_absent_from_the_file_are_left_alone(self, tenant):
        assert run(tenant, "external_id,name,email,city\nc1,Acme,ap@acme.test,Austin\n").ok
        assert run(tenant, "external_id,name\nc1,Acme Corp\n").updated == 1
        customer = Customer.objects.get()
        assert (customer.name, customer.email, customer.city) == ("Acme Corp", "ap@acme.test", "Austin")

    def test_a_blank_cell_leaves_an_existing_customer_unchanged(self, tenant):
        text = "external_id,name,email,tax_rate,country,is_test,parent,metadata.crm\n"
        assert run(tenant, text + "p,P,,,,,,\nc1,Acme,ap@acme.test,0,DE,true,p,42\n").ok
        report = run(tenant, text + "c1,Acme,,,,,,\n")
        assert report.counts() == {"created": 0, "updated": 0, "unchanged": 1}
        customer = Customer.objects.get(external_id="c1")
        assert (customer.email, customer.tax_rate, customer.country, customer.is_test, customer.parent.external_id,
                customer.metadata) == ("ap@acme.test", Decimal("0"), "DE", True, "p", {"crm": "42"})  # fmt: skip
        new = Customer.objects.get(external_id="p")  # blank cells of a new customer are the defaults
        assert (new.email, new.tax_rate, new.country, new.is_test, new.parent, new.metadata) == (
            "", None, "", False, None, {}
        )

    def test_the_preview_says_the_old_and_new_value_of_each_changed_cell(self, tenant):
        assert run(tenant, "external_id,name,tax_rate,billing_starts_on\nc1,Acme,0.2,2026-01-01\n").ok
        report = run(tenant, "external_id,name,tax_rate,billing_starts_on\nc1,Acme,0.19,2026-02-01\n", dry_run=True)
        assert report.changes == [{
            "row": 2, "external_id": "c1", "action": "update", "fields": ["tax_rate", "billing_starts_on"],
            "values": {"tax_rate": {"old": "0.2", "new": "0.19"},
                       "billing_starts_on": {"old": "2026-01-01", "new": "2026-02-01"}},
        }]  # fmt: skip
        assert report.imported == ["c1"]

    def test_a_blank_currency_keeps_the_current_one(self, tenant):
        assert run(tenant, "external_id,name,currency\nc1,Acme,EUR\n").ok
        assert run(tenant, "external_id,name,currency\nc1,Acme,\n").unchanged == 1
        assert Customer.objects.get().currency == "EUR"

    def test_parents_in_the_same_file_are_created_first(self, tenant):
        report = run(tenant, "external_id,name,parent\nchild,Child,mid\nmid,Mid,top\ntop,Top,\n")
        assert report.ok, errors(report)
        assert snapshot() == [
            ("child", "Child", "", "USD", "mid"),
            ("mid", "Mid", "", "USD", "top"),
            ("top", "Top", "", "USD", None),
        ]

    def test_a_dry_run_writes_nothing(self, tenant):
        report = run(tenant, GOOD, dry_run=True)
        assert report.ok and report.counts() == {"created": 2, "updated": 0, "unchanged": 0}
        assert not Customer.objects.exists()

    def test_the_import_is_scoped_to_the_merchant(self, tenant, other_tenant):
        assert run(other_tenant, GOOD).ok
        report = run(tenant, "external_id,name,parent\nc1,Acme,c2\n")
        assert errors(report) == [(2, "parent", "no customer with external_id 'c2'")]
        assert run(tenant, GOOD).created == 2


class TestApi:
    def upload(self, api, text, **extra):
        file = SimpleUploadedFile("customers.csv", text.encode(), content_type="text/csv")
        return api.post("/api/v1/customers/import", {"file": file, **extra}, format="multipart")

    def test_it_imports_and_reports_counts(self, api):
        response = self.upload(api, GOOD)
        assert response.status_code == 200, response.content
        assert response.json() == {"dry_run": False, "rows": 2, "created": 2, "updated": 0, "unchanged": 0}

    def test_a_dry_run_previews_the_changes(self, api):
        response = self.upload(api, GOOD, dry_run="true")
        assert response.json() == {
            "dry_run": True,
            "rows": 2,
            "created": 2,
            "updated": 0,
            "unchanged": 0,
            "changes_truncated": False,
            "changes": [
                {"row": 2, "external_id": "c1", "action": "create"},
                {"row": 3, "external_id": "c2", "action": "create"},
            ],
        }
        assert not Customer.objects.exists()

    def test_errors_name_the_row_and_column(self, api):
        response = self.upload(api, "external_id,name,email,parent\nc1,A,bad,\nc2,B,,ghost\n")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == "validation_error"
        assert error["fields"] == {
            "rows[2].email": "'bad' is not a valid email address",
            "rows[3].parent": "no customer with external_id 'ghost'",
        }
        assert error["errors"] == [
            {"row": 2, "column": "email", "message": "'bad' is not a valid email address"},
            {"row": 3, "column": "parent", "message": "no customer with external_id 'ghost'"},
        ]
        assert (
            error["message"]
            == "Nothing was imported: row 2, column email: 'bad' is not a valid email address (and 1 more)"
        )
        assert not Customer.objects.exists()

    def test_a_missing_file_is_a_400_on_file(self, api):
        response = api.post("/api/v1/customers/import", {}, format="multipart")
        assert response.status_code == 400
        assert "file" in response.json()["error"]["fields"]


class TestCockpit:
    def login(self, client, tenant):
        client.login(username=tenant.user.username, password="correct-horse-battery")

    def test_preview_then_confirm(self, client, tenant):
        self.login(client, tenant)
        assert client.get("/customers/import/").status_code == 200
        file = SimpleUploadedFile("c.csv", GOOD.encode(), content_type="text/csv")
        response = client.post("/customers/import/", {"file": file})
        assert response.status_code == 200
        assert b"<strong>2</strong> to create" in response.content
        assert not Customer.objects.exists()
        token = response.context["confirm_form"].initial["token"]
        response = client.post("/customers/import/", {"token": token})
        assert response.status_code == 302
        assert Customer.objects.count() == 2
        page = client.get(response["Location"])
        assert b"Imported 2 rows: 2 created, 0 updated, 0 unchanged." in page.content
        assert page.context["done"] == {"kind": "customers", "customers": ["c1", "c2"], "more": 0}
        assert b'<a href="/customers/c1/">c1</a>' in page.content
        assert b'<a href="/customers/c2/">c2</a>' in page.content
        assert client.get("/customers/import/").context["done"] is None  # shown once
        # The token is spent.
        client.post("/customers/import/", {"token": token})
        assert Customer.objects.count() == 2

    def test_the_preview_shows_old_and_new_values(self, client, tenant):
        assert run(tenant, "external_id,name,tax_rate,is_test\nc1,Acme,0.2,no\n").ok
        self.login(client, tenant)
        text = b"external_id,name,tax_rate,is_test,email\nc1,Acme Corp,,yes,\n"
        response = client.post("/customers/import/", {"file": SimpleUploadedFile("c.csv", text)})
        [change] = response.context["changes"]
        assert change["diff"] == [("name", "Acme", "Acme Corp"), ("is_test", "no", "yes")]  # blank tax_rate: kept
        assert b"<del>Acme</del> \xe2\x86\x92 <ins>Acme Corp</ins>" in response.content
        token = response.context["confirm_form"].initial["token"]
        client.post("/customers/import/", {"token": token})
        assert Customer.objects.get().tax_rate == Decimal("0.2")

    def test_errors_are_shown_and_nothing_can_be_confirmed(self, client, tenant):
        self.login(client, tenant)
        file = SimpleUploadedFile("c.csv", b"external_id,name,email\nc1,A,bad\n", content_type="text/csv")
        response = client.post("/customers/import/", {"file": file})
        assert response.status_code == 400
        assert b"&#x27;bad&#x27; is not a valid email address" in response.content
        assert "confirm_form" not in response.context

    def test_a_token_from_another_session_is_refused(self, client, tenant, other_tenant):
        self.login(client, tenant)
        file = SimpleUploadedFile("c.csv", GOOD.encode(), content_type="text/csv")
        token = client.post("/customers/import/", {"file": file}).context["confirm_form"].initial["token"]
        client.logout()
        client.login(username=other_tenant.user.username, password="correct-horse-battery")
        client.post("/customers/import/", {"token": token})
        assert not Customer.objects.exists()

    def test_viewers_cannot_import(self, client, tenant):
        Membership.objects.filter(user=tenant.user).update(role="viewer")
        self.login(client, tenant)
        assert client.get("/customers/import/").status_code == 403


def test_a_parent_on_a_failing_row_is_not_also_reported_unknown(tenant):
    report = run(tenant, "external_id,name,email,parent\np,P,bad,\nc,C,,p\n")
    assert errors(report) == [(2, "email", "'bad' is not a valid email address")]
