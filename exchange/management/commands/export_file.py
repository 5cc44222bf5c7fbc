import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from exchange import exporter

EXTENSIONS = {".csv": "csv", ".xlsx": "xlsx"}


class Command(BaseCommand):
    help = "Export the households, members or surveys USERNAME may see, in the exchange format (CSV or XLSX)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="the user the export is made as (and scoped to)")
        parser.add_argument("--kind", required=True, help="households, members or surveys")
        parser.add_argument("--out", required=True, help="the file to write (.csv or .xlsx)")
        parser.add_argument("--format", dest="fmt", default="",
                            help="csv or xlsx; by default from the extension of --out")
        parser.add_argument("--include-archived", action="store_true",
                            help="also archived records (the exchange format has no archived column: "
                                 "importing such a file would make them current again)")

    def handle(self, *args, user, kind, out, fmt, include_archived, **options):
        try:
            actor = get_user_model().objects.get(username=user, is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(_("There is no active user “%(user)s”.") % {"user": user}) from None
        if kind not in exporter.kinds():
            raise CommandError(_("Unknown kind “%(kind)s”; choose one of: %(kinds)s.")
                               % {"kind": kind, "kinds": ", ".join(exporter.kinds())})
        path = Path(out)
        fmt = (fmt or EXTENSIONS.get(path.suffix.lower(), "")).lower()
        if not fmt:
            raise CommandError(_("Cannot tell the format from “%(path)s”; name a .csv or .xlsx file or "
                                 "give --format.") % {"path": out})
        if fmt not in exporter.FORMATS:
            raise CommandError(_("Unknown format “%(format)s”; choose csv or xlsx.") % {"format": fmt})

        # Written beside the target and renamed when complete, so a failed
        # export never leaves a half-written file under the real name; opened
        # before any row is read, so an unwritable path fails at once.
        partial = path.with_name(path.name + ".part")
        try:
            handle = partial.open("wb")
        except OSError as exc:
            raise CommandError(_("Cannot write to %(path)s: %(reason)s.")
                               % {"path": out, "reason": exc.strerror or exc}) from exc
        try:
            with handle:
                rows = exporter.export(kind, actor, fmt, handle, include_archived=include_archived)
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(_("Cannot write to %(path)s: %(reason)s.")
                               % {"path": out, "reason": exc.strerror or exc}) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self.stdout.write(_("%(count)d rows written to %(path)s.") % {"count": rows, "path": out})
