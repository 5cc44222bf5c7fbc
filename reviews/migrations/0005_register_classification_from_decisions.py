"""The register's classification holds only what a commune decision recognised (see reviews.reconcile).

Every household whose classification differs from its latest official status
gets that status's category (none without a status), audited with the old and
the new values. Going back leaves the register as it is: the audit events keep
the old values.
"""

from django.conf import settings
from django.db import migrations
from django.utils import translation


def reconcile(apps, schema_editor):
    from reviews.reconcile import reconcile_register

    # The audit reason is stored as text, in the application's default language.
    with translation.override(settings.LANGUAGE_CODE):
        reconcile_register(
            Household=apps.get_model("households", "Household"),
            HouseholdStatus=apps.get_model("reviews", "HouseholdStatus"),
            AuditEvent=apps.get_model("core", "AuditEvent"),
            ContentType=apps.get_model("contenttypes", "ContentType"),
            CommuneSummary=apps.get_model("households", "CommuneSummary"),
        )


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0004_causes_of_poverty"),
        ("households", "0004_drop_unread_user_indexes"),
        ("core", "0005_auditevent_without_constraints"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(reconcile, migrations.RunPython.noop)]
