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

from core.migration_ops import drop_single_column_indexes

DUPLICATED = [("core_auditevent", "content_type_id"), ("core_auditevent", "household_id")]


class Migration(migrations.Migration):
    dependencies = [("core", "0003_auditevent_review_source")]

    operations = [drop_single_column_indexes(DUPLICATED)]
