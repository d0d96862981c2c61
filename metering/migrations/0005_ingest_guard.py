"""atlas_ingest_guard(ok, reason): raises SQLSTATE AT001 with ``reason`` unless ``ok``.

The PostgreSQL ingest statement calls it to refuse, inside the statement, a batch
whose cached metric definitions are stale or whose API key is no longer current:
the statement then fails as a whole, so the ingestion can pipeline its COMMIT
with it (one round trip) and still never commit such a batch. SQLite needs none.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION atlas_ingest_guard(ok boolean, reason text) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION '%', reason USING ERRCODE = 'AT001';
    END IF;
    RETURN 0;
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS atlas_ingest_guard(boolean, text)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("metering", "0004_drop_redundant_fk_indexes")]

    operations = [migrations.RunPython(create, drop)]
