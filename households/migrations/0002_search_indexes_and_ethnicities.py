"""Trigram indexes for accent-insensitive search on PostgreSQL, and the 54 ethnic groups.

The folded search columns are matched with LIKE '%term%'. On PostgreSQL a
pg_trgm GIN index serves that; SQLite has no such index and scans, which is
fine at a commune's or a demo's size.
"""

from django.db import migrations


def add_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS household_search_trgm ON households_household "
        "USING gin (search_text gin_trgm_ops)"
    )
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS member_search_trgm ON households_member "
        "USING gin (search_name gin_trgm_ops)"
    )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS household_search_trgm")
    schema_editor.execute("DROP INDEX IF EXISTS member_search_trgm")


def load_ethnicities(apps, schema_editor):
    from households.reference import load_ethnicities as load

    load(apps.get_model("households", "Ethnicity"))


class Migration(migrations.Migration):
    dependencies = [("households", "0001_initial")]

    operations = [
        migrations.RunPython(add_trigram_indexes, drop_trigram_indexes),
        migrations.RunPython(load_ethnicities, migrations.RunPython.noop),
    ]
