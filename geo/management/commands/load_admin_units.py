"""`manage.py load_admin_units`: load the administrative map from geo/data/.

Thin wrapper: parsing and output only; the loading is geo.services.load_admin_units.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from geo.models import AdminUnit
from geo.services import AdminUnitDataError, both_editions_loaded, load_admin_units, load_commune_successors


class Command(BaseCommand):
    help = gettext_lazy(
        "Load (or refresh) the administrative units of one or more editions of the map "
        "from the data files shipped with the app. Safe to re-run: existing units are "
        "updated in place and nothing is deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--edition",
            action="append",
            dest="editions",
            metavar="YEAR",
            # Kept as text so that a wrong value gets our own message, not argparse's.
            help=_("Edition to load (%(choices)s). May be repeated; default: all editions.")
            % {"choices": ", ".join(str(value) for value in AdminUnit.Edition.values)},
        )

    def handle(self, *args: Any, editions: list[str] | None = None, **options: Any) -> None:
        for edition in self._parse_editions(editions):
            started = time.monotonic()
            try:
                counts = load_admin_units(edition)
            except AdminUnitDataError as exc:
                raise CommandError(str(exc)) from exc
            elapsed = time.monotonic() - started

            self.stdout.write(_("Edition %(edition)s:") % {"edition": edition})
            for level, c in counts.items():
                self.stdout.write(
                    "  "
                    + _("%(level)s: %(created)s created, %(updated)s updated, %(unchanged)s unchanged")
                    % {"level": AdminUnit.Level(level).label, **c}
                )
                if c["not_in_file"]:
                    self.stderr.write(
                        "  "
                        + _(
                            "%(level)s: %(count)s units in the database are not in the data file; "
                            "they were left as they are."
                        )
                        % {"level": AdminUnit.Level(level).label, "count": c["not_in_file"]}
                    )
            if any(c["created"] or c["updated"] for c in counts.values()):
                self.stdout.write(
                    self.style.SUCCESS(
                        _("Edition %(edition)s loaded in %(seconds).1f s.") % {"edition": edition, "seconds": elapsed}
                    )
                )
            else:
                self.stdout.write(
                    self.style.SUCCESS(
                        _("Edition %(edition)s is already up to date: nothing changed.") % {"edition": edition}
                    )
                )

        self._load_successors()

    def _load_successors(self) -> None:
        # The links point at units of both editions: with only one loaded, there is nothing to link.
        if not both_editions_loaded():
            self.stdout.write(_("Commune successors: skipped until both editions are loaded."))
            return
        try:
            c = load_commune_successors()
        except AdminUnitDataError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            _(
                "Commune successors: %(created)s created, %(updated)s updated, %(unchanged)s unchanged; "
                "%(communes)s communes of 2021 have a successor."
            )
            % c
        )
        if c["not_in_file"]:
            self.stderr.write(
                _("Commune successors: %(count)s links in the database are not in the data file; "
                  "they were left as they are.") % {"count": c["not_in_file"]}
            )

    def _parse_editions(self, values: list[str] | None) -> list[int]:
        known = [int(value) for value in AdminUnit.Edition.values]
        if not values:
            return known
        editions: list[int] = []
        for value in values:
            try:
                edition = int(value)
            except ValueError:
                edition = None
            if edition not in known:
                raise CommandError(
                    _("Unknown edition “%(value)s”; choose from %(choices)s.")
                    % {"value": value, "choices": ", ".join(str(e) for e in known)}
                )
            if edition not in editions:  # "--edition 2021 --edition 2021" loads once
                editions.append(edition)
        return editions
