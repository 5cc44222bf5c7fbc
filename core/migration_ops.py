"""Operations shared by migrations of several apps."""

from django.db import migrations


def _single_column_indexes(connection, cursor, table: str, column: str) -> list[str]:
    constraints = connection.introspection.get_constraints(cursor, table)
    return [name for name, info in constraints.items()
            if info["columns"] == [column] and info["index"] and not info["unique"] and not info["primary_key"]
            and not info["foreign_key"]]


def drop_single_column_indexes(columns: list[tuple[str, str]]) -> migrations.RunPython:
    """On PostgreSQL, drop the plain B-tree index of each (table, column); reversing recreates it.

    Other databases keep their indexes: the models still declare them as Django does by default.
    """

    def drop(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            for table, column in columns:
                for name in _single_column_indexes(connection, cursor, table, column):
                    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")

    def restore(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            for table, column in columns:
                if not _single_column_indexes(connection, cursor, table, column):
                    name = f"{table}_{column}_idx"[:63]
                    schema_editor.execute(f"CREATE INDEX {schema_editor.quote_name(name)} "
                                          f"ON {schema_editor.quote_name(table)} ({schema_editor.quote_name(column)})")

    return migrations.RunPython(drop, restore)
