import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from core.scoping import communes_for
from exchange import exporter

EXTENSIONS = {".csv": "csv", ".xlsx": "xlsx"}


class Command(BaseCommand):
    help = ("Export the households, members or surveys USERNAME may see, in the exchange format (CSV or XLSX); "
            "or, with --kind lists --year YEAR, the official lists of that year's decisions (XLSX, or a zip of "
            "CSV files).")

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="the user the export is made as (and scoped to)")
        parser.add_argument("--kind", required=True, help="households, members, surveys or lists")
        parser.add_argument("--out", required=True,
                            help="the file to write (.csv or .xlsx; for lists .xlsx or .zip)")
        parser.add_argument("--year", type=int, default=None,
                            help="lists only: the year of the decisions")
        parser.add_argument("--commune", default="",
                            help="lists only: one commune's lists (its code); by default the user's whole area")
        parser.add_argument("--format", dest="fmt", default="",
                            help="csv or xlsx; by default from the extension of --out")
        parser.add_argument("--include-archived", action="store_true",
                            help="also archived records (the exchange format has no archived column: "
                                 "importing such a file would make them current again)")

    def handle(self, *args, user, kind, out, fmt, include_archived, year, commune, **options):
        try:
            actor = get_user_model().objects.get(username=user, is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(_("There is no active user “%(user)s”.") % {"user": user}) from None
        kinds = (*exporter.kinds(), exporter.LISTS)
        if kind not in kinds:
            raise CommandError(_("Unknown kind “%(kind)s”; choose one of: %(kinds)s.")
                               % {"kind": kind, "kinds": ", ".join(kinds)})
        lists = kind == exporter.LISTS
        path = Path(out)
        extensions = {**EXTENSIONS, ".zip": "csv"} if lists else EXTENSIONS
        fmt = (fmt or extensions.get(path.suffix.lower(), "")).lower()
        if not fmt:
            raise CommandError(_("Cannot tell the format from “%(path)s”; name a .csv or .xlsx file or "
                                 "give --format.") % {"path": out})
        if fmt not in exporter.FORMATS:
            raise CommandError(_("Unknown format “%(format)s”; choose csv or xlsx.") % {"format": fmt})
        if lists:
            scope = self._list_scope(actor, year, commune)
            if fmt == "csv" and path.suffix.lower() != ".zip":
                raise CommandError(_("The official lists in CSV are four files in a zip file: name a .zip file."))
        elif year is not None or commune:
            raise CommandError(_("--year and --commune are for --kind lists only."))

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
                if lists:
                    counts = exporter.export_lists(actor, scope, fmt, handle)
                else:
                    rows = exporter.export(kind, actor, fmt, handle, include_archived=include_archived)
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(_("Cannot write to %(path)s: %(reason)s.")
                               % {"path": out, "reason": exc.strerror or exc}) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if lists:
            self.stdout.write(_("Official lists written to %(path)s: %(poor)d poor, %(near_poor)d near-poor, "
                                "%(escaped_poor)d escaped poverty, %(escaped_near_poor)d escaped near-poverty.")
                              % {"path": out, **counts})
        else:
            self.stdout.write(_("%(count)d rows written to %(path)s.") % {"count": rows, "path": out})

    @staticmethod
    def _list_scope(actor, year, commune) -> exporter.ListScope:
        if year is None:
            raise CommandError(_("Give the year of the official lists with --year."))
        code = commune.strip()
        if code:
            if not code.isdigit():
                raise CommandError(_("A commune code is made of digits."))
            code = code.zfill(5)
            if not communes_for(actor).filter(code=code).exists():
                raise CommandError(_("There is no commune with the code %(code)s in your area.") % {"code": code})
        return exporter.ListScope(year=year, commune_code=code)
