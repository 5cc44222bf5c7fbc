"""No B-tree index on who created, changed or archived a household, nor on who archived a member.

No query filters households or members by these columns: they are shown on a
record's page (read through the record's own key) and would only be searched
when a user is deleted, which the foreign keys forbid while records name the
user. Each index cost every new household or member an index insertion. The
models keep declaring these foreign keys as Django does by default; the
indexes are dropped here on PostgreSQL only, as migration 0002 adds the
trigram indexes there.
"""

from django.db import migrations

from core.migration_ops import drop_single_column_indexes

UNREAD = [
    ("households_household", "created_by_id"),
    ("households_household", "updated_by_id"),
    ("households_household", "archived_by_id"),
    ("households_member", "archived_by_id"),
]


class Migration(migrations.Migration):
    dependencies = [("households", "0003_household_member_redundant_indexes")]

    operations = [drop_single_column_indexes(UNREAD)]
