"""atlas/db.py: plain SQL on the hot paths, model instances from joined columns, prepared statements."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from atlas import db
from atlas.models import ApiKey, Merchant
from catalog import services as catalog
from catalog.models import Feature, Metric

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")

KEY_AND_MERCHANT = db.Select(("k", ApiKey, None), ("m", Merchant, None))
KEY_SQL = (
    f"SELECT {KEY_AND_MERCHANT.columns()} FROM atlas_apikey k JOIN atlas_merchant m ON m.id = k.merchant_id "
    f"WHERE k.id = %s"
)


def test_select_builds_the_same_instances_as_the_orm(tenant):
    Merchant.objects.filter(pk=tenant.merchant.pk).update(
        default_tax_rate=Decimal("0.205000"), timezone="Europe/Paris", billing_day=26
    )
    orm = ApiKey.objects.select_related("merchant").get(merchant=tenant.merchant)
    ApiKey.objects.filter(pk=orm.pk).update(last_used_at=datetime(2026, 1, 5, 10, 30, tzinfo=UTC))
    orm.refresh_from_db()

    key, merchant = KEY_AND_MERCHANT.instances(db.row(KEY_SQL, [orm.pk]))

    for field in ApiKey._meta.concrete_fields:
        assert getattr(key, field.attname) == getattr(orm, field.attname), field.name
    for field in Merchant._meta.concrete_fields:
        assert getattr(merchant, field.attname) == getattr(orm.merchant, field.attname), field.name
    assert merchant.default_tax_rate == Decimal("0.205000")
    assert key.last_used_at == datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    assert key._state.adding is False and key._state.db == "default"


def test_select_defers_the_fields_it_did_not_read_and_gives_none_for_a_missing_join(tenant):
    merchant = tenant.merchant
    metric = catalog.metric_create(merchant=merchant, code="calls", name="Calls", event_codes=["api_call", "call"])
    catalog.feature_create(merchant=merchant, key="sso", name="SSO", kind="boolean")
    catalog.feature_create(merchant=merchant, key="calls", name="Calls", kind="limit", metric=metric)
    select = db.Select(("f", Feature, ["key"]), ("m", Metric, ["event_codes", "created_at"]))
    found = db.rows(
        f"SELECT {select.columns()} FROM catalog_feature f LEFT JOIN catalog_metric m ON m.id = f.metric_id "
        f"WHERE f.merchant_id = %s ORDER BY f.key",
        [merchant.pk],
    )
    (calls, calls_metric), (sso, no_metric) = (select.instances(values) for values in found)
    assert (calls.key, sso.key, no_metric) == ("calls", "sso", None)
    assert calls_metric.pk == metric.pk
    assert calls_metric.event_codes == ["api_call", "call"]  # JSON converted as the ORM converts it
    deferred = {"merchant_id", "name", "description", "kind", "metric_id", "default_limit", "default_enabled",
                "default_value", "scope", "counts", "created_at"}  # fmt: skip
    assert calls.get_deferred_fields() == deferred


@postgres_only
def test_statements_are_prepared_once_per_connection_on_postgresql(tenant):
    key = ApiKey.objects.get(merchant=tenant.merchant)
    for _ in range(3):
        assert db.row(KEY_SQL, [key.pk])[0] == key.pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{'WHERE k.id = $1'}"])
        assert cursor.fetchone()[0] == 1


@postgres_only
def test_preparation_can_be_switched_off_for_old_pgbouncers(tenant, settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    key = ApiKey.objects.get(merchant=tenant.merchant)
    assert db.row(KEY_SQL + " AND k.name = %s", [key.pk, key.name])[0] == key.pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%k.name = $2"])
        assert cursor.fetchone()[0] == 0


def test_logged_queries_record_their_sql(tenant):
    key = ApiKey.objects.get(merchant=tenant.merchant)
    with CaptureQueriesContext(connection) as captured:
        db.row(KEY_SQL, [key.pk])
    assert len(captured.captured_queries) == 1
    assert f"WHERE k.id = {key.pk}" in captured.captured_queries[0]["sql"]
