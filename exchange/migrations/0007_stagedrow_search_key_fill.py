from django.db import migrations


def fill(apps, schema_editor):
    """Rows parked before 0006 (a file checked but not yet imported): their search key as
    `exchange.bulk` computes it, so their households get the same search text."""
    from core.text import fold

    StagedRow = apps.get_model("exchange", "StagedRow")
    pending = StagedRow.objects.filter(kind="households", search_key="", issues="").exclude(code="")
    for row in pending.only("pk", "code", "phone").iterator(chunk_size=2000):
        StagedRow.objects.filter(pk=row.pk).update(search_key=fold(f"{row.code} {row.phone}"))


class Migration(migrations.Migration):

    dependencies = [
        ("exchange", "0006_stagedrow_search_key"),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
