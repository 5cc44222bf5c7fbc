"""Recompute the rollups by hand: what the nightly task does, for one year or one unit."""

import time

from django.core.management.base import BaseCommand, CommandError

from geo.models import AdminUnit
from reports import compute


class Command(BaseCommand):
    help = "Recompute the report figures (rollups) from the rows: every year, or one; every unit, or one."

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, help="Only this year (default: every year with reviews, and this one).")
        parser.add_argument("--unit", help="Only this unit's communes (official code of a commune, district or "
                                           "province) and the units above them.")
        parser.add_argument("--edition", type=int, default=None, help="Map edition of --unit when the code is "
                                                                      "ambiguous (2021 or 2025).")

    def handle(self, *args, year=None, unit=None, edition=None, **options):
        years = [year] if year else compute.report_years()
        communes = None
        if unit:
            units = AdminUnit.objects.filter(code=unit)
            if edition:
                units = units.filter(edition=edition)
            if units.count() != 1:
                raise CommandError(f"No single unit has the code {unit!r}; give --edition.")
            chosen = units.get()
            every = AdminUnit.objects.filter(level=AdminUnit.Level.COMMUNE)
            communes = list({
                AdminUnit.Level.COMMUNE: every.filter(pk=chosen.pk),
                AdminUnit.Level.DISTRICT: every.filter(parent=chosen),
                AdminUnit.Level.PROVINCE: every.filter(province=chosen),
            }[chosen.level].values_list("pk", flat=True))
        for one_year in years:
            started = time.monotonic()
            if communes is None:
                count = compute.recompute_all(one_year)
            else:
                compute.recompute_communes(communes, one_year)
                count = len(communes)
            self.stdout.write(f"{one_year}: {count} communes and the units above them in "
                              f"{time.monotonic() - started:.1f} s")
