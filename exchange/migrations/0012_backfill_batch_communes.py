"""The communes of the imports made before batches recorded them.

An imported batch: the communes of the households its audit events changed (one
pass over the import events). A batch never imported, made by a commune officer:
that officer's commune as it is now (the only commune whose rows their check
accepted). Others stay empty (seen while their uploader may import).
"""

from django.db import migrations


def backfill(apps, schema_editor):
    ImportBatch = apps.get_model("exchange", "ImportBatch")
    AuditEvent = apps.get_model("core", "AuditEvent")
    Through = ImportBatch.communes.through
    known = set(ImportBatch.objects.values_list("pk", flat=True))
    if not known:
        return
    found: dict[int, set[int]] = {}
    events = (AuditEvent.objects.filter(batch__startswith="import:", household__isnull=False)
              .values_list("batch", "household__commune_id").distinct())
    for reference, commune_id in events.iterator():
        number = reference.split(":", 1)[1]
        if number.isdigit() and int(number) in known and commune_id:
            found.setdefault(int(number), set()).add(commune_id)
    officers = (ImportBatch.objects.exclude(pk__in=list(found)).filter(
        created_by__role="commune_officer", created_by__unit__level="commune")
        .values_list("pk", "created_by__unit_id"))
    for pk, unit_id in officers.iterator():
        found.setdefault(pk, set()).add(unit_id)
    Through.objects.bulk_create(
        [Through(importbatch_id=pk, adminunit_id=commune_id) for pk, communes in found.items()
         for commune_id in communes],
        batch_size=2000, ignore_conflicts=True,
    )


class Migration(migrations.Migration):

    dependencies = [
        ("exchange", "0011_batch_lifecycle_and_area"),
        ("core", "0005_auditevent_without_constraints"),
        ("households", "0001_initial"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
