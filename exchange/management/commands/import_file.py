from contextlib import ExitStack
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from exchange import services
from exchange.models import ImportBatch


class Command(BaseCommand):
    help = gettext_lazy("Import households and members from exchange-format files, as USERNAME would through "
                        "the page.")

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="+", help=gettext_lazy("an XLSX file, or CSV files (one per sheet)"))
        parser.add_argument("--user", required=True,
                            help=gettext_lazy("the user the import is made as (and scoped to)"))
        parser.add_argument("--dry-run", action="store_true", help=gettext_lazy("check and report, write nothing"))
        parser.add_argument("--valid-rows-only", action="store_true",
                            help=gettext_lazy("write the valid rows even if others are rejected"))

    def handle(self, *args, path, user, dry_run, valid_rows_only, **options):
        try:
            actor = get_user_model().objects.get(username=user, is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(_("There is no active user “%(user)s”.") % {"user": user}) from None
        paths = [Path(p) for p in path]
        for file_path in paths:
            if not file_path.is_file():
                raise CommandError(_("There is no file at %(path)s.") % {"path": file_path})
        try:
            with ExitStack() as stack:
                files = [(p.name, stack.enter_context(p.open("rb"))) for p in paths]
                batch = services.create_bundle(user=actor, files=files)
        except (PermissionDenied, ValidationError) as exc:
            raise CommandError(" ".join(getattr(exc, "messages", [str(exc)]))) from exc
        batch = services.check_batch(batch.pk)
        if batch.status == ImportBatch.Status.VALIDATED and not dry_run:
            if batch.rejected and not valid_rows_only:
                pass  # reported below; nothing written
            else:
                services.confirm_batch(user=actor, batch=batch, valid_rows_only=valid_rows_only)
                batch = services.import_batch(batch.pk)
        self._report(batch, dry_run)
        if batch.status in (ImportBatch.Status.FAILED,) or batch.rejected or batch.error:
            raise CommandError(
                ngettext("%(count)d row rejected.", "%(count)d rows rejected.", batch.rejected)
                % {"count": batch.rejected} if batch.rejected else batch.error
            )

    def _report(self, batch: ImportBatch, dry_run: bool) -> None:
        write = self.stdout.write
        write(_("File: %(name)s (%(size)d bytes, SHA-256 %(sha)s)") % {
            "name": batch.file_name, "size": batch.size, "sha": batch.sha256})
        if dry_run:
            write(_("Status: %(status)s (dry run: nothing written)") % {"status": batch.get_status_display()})
        else:
            write(_("Status: %(status)s") % {"status": batch.get_status_display()})
        for sheet in batch.sheets:
            if sheet["unknown_columns"]:
                write(_("Sheet “%(name)s”: ignored unknown columns: %(cols)s") % {
                    "name": sheet["name"], "cols": ", ".join(sheet["unknown_columns"])})
        write(_("Rows: %(total)d · created %(created)d · updated %(updated)d · unchanged %(unchanged)d · "
                "rejected %(rejected)d") % {
            "total": batch.total_rows, "created": batch.created, "updated": batch.updated,
            "unchanged": batch.unchanged, "rejected": batch.rejected})
        for change in batch.changes[:1000]:
            fields = "; ".join(f"{column}: {before or '–'} → {after or '–'}"
                               for column, before, after in change["changes"])
            write(f"  {change['sheet']} · {_('row')} {change['row']} · {change['code']} {change['name']}: {fields}")
        if batch.error:
            write(batch.error)
        for issue in batch.issues.all()[:1000]:
            write(f"  {issue.sheet} · {_('row')} {issue.row} · {issue.column}: {issue.message}"
                  + (f" [{issue.value}]" if issue.value else ""))
