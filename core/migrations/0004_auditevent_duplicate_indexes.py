"""No single-column indexes on an audit event's content type or household.

Both are the first column of a composite index of the model (`audit_object`:
content type, object id; `audit_household_at`: household, time), which serves
every query the single-column index served: the history of a record, a
household's history, and the foreign keys' checks when a content type or a
household would be deleted. Each duplicate cost every audit event an index
insertion. The model keeps declaring these foreign keys as Django does by
default; the indexes are dropped on PostgreSQL only.
"""

from django.db import migrations

DUPLICATED = [("core_auditevent", "content_type_id"), ("core_auditevent", "household_id")]


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
        for table, column in DUPLICATED:
            for name in _single_column_indexes(connection, cursor, table, column):
                schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def restore(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table, column in DUPLICATED:
            if not _single_column_indexes(connection, cursor, table, column):
                name = f"{table}_{column}_idx"[:63]
                schema_editor.execute(f"CREATE INDEX {schema_editor.quote_name(name)} "
                                      f"ON {schema_editor.quote_name(table)} ({schema_editor.quote_name(column)})")


class Migration(migrations.Migration):
    dependencies = [("core", "0003_auditevent_review_source")]

    operations = [migrations.RunPython(drop, restore)]
