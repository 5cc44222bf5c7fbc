from django.db import migrations


def load(apps, schema_editor):
    from reviews.standards import load_standards

    load_standards(apps.get_model("reviews", "PovertyStandard"), apps.get_model("reviews", "Indicator"))


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
