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

    def for_each_column(action):
        def run(apps, schema_editor):
            connection = schema_editor.connection
            if connection.vendor != "postgresql":
                return
            with connection.cursor() as cursor:
                for table, column in columns:
                    action(schema_editor, table, column, _single_column_indexes(connection, cursor, table, column))
        return run

    def drop(schema_editor, table, column, indexes):
        for name in indexes:
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")

    def restore(schema_editor, table, column, indexes):
        if not indexes:
            q = schema_editor.quote_name
            schema_editor.execute(f"CREATE INDEX {q(f'{table}_{column}_idx'[:63])} ON {q(table)} ({q(column)})")

    return migrations.RunPython(for_each_column(drop), for_each_column(restore))
