"""Customers under hostile input: metadata bounds, malformed CSV files, what the schema declares."""

import pytest

from customers.csv_import import customers_import
from customers.models import Customer

pytestmark = pytest.mark.django_db


def fields(response) -> dict:
    assert response.json()["error"]["type"] == "validation_error"
    return response.json()["error"]["fields"]


class TestMetadata:
    def create(self, api, metadata):
        return api.post("/api/v1/customers", {"external_id": "c1", "name": "Acme", "metadata": metadata}, format="json")

    def test_fifty_keys_of_forty_characters_and_values_of_500_are_kept(self, api):
        metadata = {f"{index:02d}".ljust(40, "k"): "v" * 500 for index in range(50)}
        response = self.create(api, metadata)
        assert response.status_code == 201
        assert Customer.objects.get().metadata == metadata

    def test_a_51st_key_is_a_400_on_metadata(self, api):
        response = self.create(api, {f"k{index}": "v" for index in range(51)})
        assert response.status_code == 400
        assert fields(response) == {"metadata": "must have at most 50 keys (it has 51)"}
        assert not Customer.objects.exists()

    def test_a_key_of_41_characters_is_a_400_naming_it(self, api):
        key = "k" * 41
        response = self.create(api, {key: "v"})
        assert response.status_code == 400
        assert fields(response) == {f"metadata.{key}": "keys must be at most 40 characters"}
        assert not Customer.objects.exists()

    def test_a_value_of_501_characters_is_a_400_naming_its_key(self, api):
        response = self.create(api, {"notes": "v" * 501})
        assert response.status_code == 400
        assert fields(response) == {"metadata.notes": "must be at most 500 characters"}
        assert not Customer.objects.exists()

    def test_a_value_that_is_not_text_is_a_400_naming_its_key(self, api):
        response = self.create(api, {"crm": {"nested": "object"}})
        assert response.status_code == 400
        assert fields(response) == {"metadata.crm": "must be a string"}

    def test_a_blank_key_is_a_400(self, api):
        response = self.create(api, {" ": "v"})
        assert response.status_code == 400
        assert fields(response) == {"metadata. ": "keys must not be blank"}

    def test_metadata_that_is_not_an_object_is_a_400(self, api):
        response = self.create(api, ["crm"])
        assert response.status_code == 400
        assert fields(response) == {"metadata": 'must be an object of text values, such as {"crm_id": "42"}'}

    def test_a_patch_over_the_limits_changes_nothing(self, api):
        self.create(api, {"crm": "42"})
        response = api.patch("/api/v1/customers/c1", {"metadata": {"crm": "x" * 501}}, format="json")
        assert response.status_code == 400
        assert fields(response) == {"metadata.crm": "must be at most 500 characters"}
        assert Customer.objects.get().metadata == {"crm": "42"}


class TestListLimit:
    @pytest.mark.parametrize("limit", ["null", "abc", "0", "-1", "5000", "1001", "1.5", "", "²"])
    def test_a_limit_that_is_not_1_to_1000_is_a_400_on_limit(self, api, limit):
        response = api.get("/api/v1/customers", {"limit": limit})
        assert response.status_code == 400
        assert fields(response) == {"limit": "must be an integer from 1 to 1000"}

    def test_limits_from_1_to_1000_page_the_list(self, api):
        for number in range(3):
            api.post("/api/v1/customers", {"external_id": f"c{number}", "name": "Acme"}, format="json")
        first = api.get("/api/v1/customers", {"limit": "2"}).json()
        assert [row["external_id"] for row in first["results"]] == ["c2", "c1"]
        assert first["next"] is not None
        assert len(api.get("/api/v1/customers", {"limit": "1000"}).json()["results"]) == 3

    def test_other_lists_refuse_a_bad_limit_too(self, api):
        response = api.get("/api/v1/metrics", {"limit": "5000"})
        assert response.status_code == 400
        assert fields(response) == {"limit": "must be an integer from 1 to 1000"}


class TestSchema:
    def schema(self, api) -> dict:
        response = api.get("/api/v1/schema/", {"format": "json"})
        assert response.status_code == 200
        return response.json() if response["Content-Type"].startswith("application/json") else _yaml(response)

    def test_customer_email_is_a_string_without_format_and_parent_is_nullable(self, api):
        properties = self.schema(api)["components"]["schemas"]["CustomerOutput"]["properties"]
        assert properties["email"] == {
            "type": "string",
            "readOnly": True,
            "description": "The billing email address; empty when unknown.",
        }
        assert properties["parent"] == {
            "type": "string",
            "readOnly": True,
            "nullable": True,
            "description": "The reseller's external_id; null without one.",
        }

    def test_what_is_returned_matches_it(self, api):
        body = api.post("/api/v1/customers", {"external_id": "c1", "name": "Acme"}, format="json").json()
        assert (body["email"], body["parent"]) == ("", None)

    def test_limit_is_declared_1_to_1000(self, api):
        parameters = self.schema(api)["paths"]["/api/v1/customers/"]["get"]["parameters"]
        limit = next(parameter for parameter in parameters if parameter["name"] == "limit")
        assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000}


def _yaml(response) -> dict:
    import yaml

    return yaml.safe_load(response.content)


class TestMalformedCsv:
    def run(self, tenant, data: bytes):
        return customers_import(merchant=tenant.merchant, data=data)

    def errors(self, report) -> list[tuple]:
        return [(error.row, error.column, error.message) for error in report.errors]

    def test_an_unclosed_quote_is_an_error_on_its_row_and_nothing_is_written(self, tenant):
        report = self.run(tenant, b'external_id,name\nq0,Fine\nq1,"unterminated\nq2,Other\n')
        assert self.errors(report) == [
            (3, "", 'is not valid CSV: a quoted cell is never closed (a " without its closing ")')
        ]
        assert not Customer.objects.exists()

    def test_text_after_a_closing_quote_is_an_error_on_its_row(self, tenant):
        report = self.run(tenant, b'external_id,name\nq1,"Acme" Inc\n')
        assert self.errors(report) == [
            (
                2,
                "",
                'is not valid CSV: text follows a closing quote (a quote inside a quoted cell is written twice: ""; '
                "a quoted cell ends at the quote before the ',')",
            )
        ]
        assert not Customer.objects.exists()

    def test_nul_bytes_are_a_file_error(self, tenant):
        report = self.run(tenant, b"external_id,name\nc1,Ac\x00me\n")
        assert self.errors(report) == [(None, "", "is not a CSV file (it contains NUL bytes)")]
        assert not Customer.objects.exists()

    def test_a_spreadsheet_file_is_not_csv(self, tenant):
        xlsx_start = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00"  # what an .xlsx (a zip) begins with
        report = self.run(tenant, xlsx_start + b"[Content_Types].xml")
        assert self.errors(report) == [(None, "", "is not a CSV file (it contains NUL bytes)")]

    def test_a_text_file_that_is_not_a_customer_csv_names_its_header(self, tenant):
        report = self.run(tenant, b"Dear customer,\nthank you.\n")
        assert self.errors(report)[0] == (
            1,
            "dear customer",
            "unknown column; known columns are external_id, name, email, currency, address_line1, address_line2, "
            "city, state, postal_code, country, tax_rate, billing_starts_on, billing_ends_on, is_test, parent "
            "and metadata.<key>",
        )
        assert not Customer.objects.exists()

    def test_a_metadata_column_with_a_long_key_is_a_header_error(self, tenant):
        name = "metadata." + "k" * 41
        report = self.run(tenant, f"external_id,name,{name}\nc1,Acme,v\n".encode())
        assert self.errors(report) == [(1, name, "keys must be at most 40 characters")]

    def test_a_metadata_cell_over_500_characters_is_a_cell_error(self, tenant):
        report = self.run(tenant, ("external_id,name,metadata.notes\nc1,Acme," + "v" * 501 + "\n").encode())
        assert self.errors(report) == [(2, "metadata.notes", "must be at most 500 characters")]

    def test_metadata_merged_past_50_keys_is_a_row_error(self, tenant):
        Customer.objects.create(
            merchant=tenant.merchant, external_id="c1", name="Acme", metadata={f"k{i}": "v" for i in range(50)}
        )
        report = self.run(tenant, b"external_id,name,metadata.extra\nc1,Acme,v\n")
        assert self.errors(report) == [(2, "metadata", "would have 51 keys; at most 50 are kept per customer")]
        assert "extra" not in Customer.objects.get().metadata

    def test_the_api_answers_an_unclosed_quote_with_a_400_on_the_row(self, api):
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("c.csv", b'external_id,name\nq1,"unterminated\n', content_type="text/csv")
        response = api.post("/api/v1/customers/import", {"file": upload}, format="multipart")
        assert response.status_code == 400
        assert fields(response) == {
            "rows[2]": 'is not valid CSV: a quoted cell is never closed (a " without its closing ")'
        }
        assert not Customer.objects.exists()
