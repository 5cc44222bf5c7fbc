from django.db import migrations


def load(apps, schema_editor):
    from programs.catalog import load_programs

    load_programs(apps.get_model("programs", "Program"))


class Migration(migrations.Migration):
    dependencies = [("programs", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
