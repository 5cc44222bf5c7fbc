from django.db import migrations


def unlogged(apps, schema_editor):
    # Parked rows are a working copy of an uploaded file: PostgreSQL need not
    # write them to its journal (after a crash the page asks for the file again).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE exchange_stagedrow SET UNLOGGED")


def logged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE exchange_stagedrow SET LOGGED")


class Migration(migrations.Migration):

    dependencies = [
        ("exchange", "0004_staged_rows_parsed"),
    ]

    operations = [
        migrations.RunPython(unlogged, logged),
    ]
