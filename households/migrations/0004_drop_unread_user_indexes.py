"""No B-tree index on who created, changed or archived a household, nor on who archived a member.

No query filters households or members by these columns: they are shown on a
record's page (read through the record's own key) and would only be searched
when a user is deleted, which the foreign keys forbid while records name the
user. Each index cost every new household or member an index insertion. The
models keep declaring these foreign keys as Django does by default; the
indexes are dropped here on PostgreSQL only, as migration 0002 adds the
trigram indexes there.
"""

from django.db import migrations

UNREAD = [
    ("households_household", "created_by_id"),
    ("households_household", "updated_by_id"),
    ("households_household", "archived_by_id"),
    ("households_member", "archived_by_id"),
]


def _single_column_indexes(connection, cursor, table, column):
    constraints = connection.introspection.get_constraints(cursor, table)
    return [name for name, info in constraints.items()
            if info["columns"] == [column] and info["index"] and not info["unique"] and not info["primary_key"]
            and not info["foreign_key"]]


def drop(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table, column in UNREAD:
            for name in _single_column_indexes(connection, cursor, table, column):
                schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def restore(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table, column in UNREAD:
            if not _single_column_indexes(connection, cursor, table, column):
                name = f"{table}_{column}_idx"[:63]
                schema_editor.execute(f"CREATE INDEX {schema_editor.quote_name(name)} "
                                      f"ON {schema_editor.quote_name(table)} ({schema_editor.quote_name(column)})")


class Migration(migrations.Migration):
    dependencies = [("households", "0003_household_member_redundant_indexes")]

    operations = [migrations.RunPython(drop, restore)]
