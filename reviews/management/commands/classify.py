"""`manage.py classify FILE --out OUT.csv [--standard CODE]`: classify a Phiếu B sheet without saving anything.

The households need not be in the database: the area comes from the commune
(phường and thị trấn urban, xã rural), the standard from the year and the
commune's province (`services.standard_for`), unless `--standard` asks "what
would these households be under that standard". One output row per input row;
a row that cannot be classified says why in “Giải thích”, and the command
then ends with a non-zero status.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from exchange.reader import ReadError, read_tables
from exchange.values import CLASSIFICATION_LABELS
from geo.models import AdminUnit
from households.models import Household
from reviews import phieu_b, services
from reviews.classification import RURAL, URBAN, InvalidSurvey, Rules, classify

OUTPUT_COLUMNS = ("Mã xã", "Mã hộ", "Năm rà soát", "Phân loại", "Số chỉ số thiếu hụt", "Chênh lệch thu nhập",
                  "Giải thích")
# The 2025 map is in force from 1 July 2025, before that year's periodic review (1 Sept–14 Dec).
NEW_MAP_FROM_YEAR = 2025


class Command(BaseCommand):
    help = gettext_lazy("Classify the households of a Phiếu B sheet (CSV or XLSX) and write the results to a CSV "
                        "file; nothing is saved.")

    def add_arguments(self, parser):
        parser.add_argument("file", help=gettext_lazy("the Phiếu B sheet: an XLSX workbook or a CSV file"))
        parser.add_argument("--out", required=True, help=gettext_lazy("the CSV file to write (UTF-8 with BOM)"))
        parser.add_argument("--standard", default="",
                            help=gettext_lazy("classify under this standard (its code) instead of the year's"))

    def handle(self, *args: Any, file: str, out: str, standard: str, **options: Any) -> None:
        path = Path(file)
        if not path.is_file():
            raise CommandError(_("There is no file at %(path)s.") % {"path": path})
        forced = None
        if standard:
            try:
                forced = services.standard_by_code(standard)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
        try:
            with path.open("rb") as handle:
                tables = [t for t in read_tables(handle, path.name) if t.kind == "surveys"]
                if not tables:
                    raise CommandError(_("The file has no “Phiếu B” sheet (its headers match no survey sheet)."))
                for table in tables:
                    if table.missing_required:
                        raise CommandError(_("Sheet “%(sheet)s” lacks the required columns: %(columns)s.") % {
                            "sheet": table.name,
                            "columns": ", ".join(phieu_b.header(k) for k in table.missing_required)})
                rows = [row for table in tables for row in table.rows()]
        except ReadError as exc:
            raise CommandError(exc.message) from None

        classifier = _Classifier(forced)
        bad = 0
        out_path = Path(out)
        with out_path.open("w", encoding="utf-8-sig", newline="") as target:
            writer = csv.writer(target)
            writer.writerow(OUTPUT_COLUMNS)
            for row in rows:
                line, ok = classifier.row(row.values)
                bad += not ok
                writer.writerow(line)
        self.stdout.write(ngettext("%(count)d row classified, written to %(out)s.",
                                   "%(count)d rows classified, written to %(out)s.", len(rows) - bad)
                          % {"count": len(rows) - bad, "out": out_path})
        if bad:
            raise CommandError(ngettext("%(count)d row could not be classified; “Giải thích” says why.",
                                        "%(count)d rows could not be classified; “Giải thích” says why.", bad)
                               % {"count": bad})


class _Classifier:
    """Classifies rows one by one, fetching each commune, standard and household flag once."""

    def __init__(self, forced_standard=None):
        self.forced = forced_standard
        self.communes: dict[tuple[str, int], AdminUnit | None] = {}
        self.rules: dict[int, Rules] = {}
        self.farm_flags: dict[int, dict[str, bool]] = {}

    def commune(self, code: str, year: int) -> AdminUnit | None:
        key = (code, year)
        if key not in self.communes:
            preferred = [2025, 2021] if year >= NEW_MAP_FROM_YEAR else [2021, 2025]
            found = {u.edition: u for u in AdminUnit.objects.filter(level=AdminUnit.Level.COMMUNE, code=code)}
            self.communes[key] = next((found[e] for e in preferred if e in found), None)
        return self.communes[key]

    def rules_of(self, standard) -> Rules:
        if standard.pk not in self.rules:
            self.rules[standard.pk] = Rules.from_standard(standard)
        return self.rules[standard.pk]

    def household_is_farm(self, commune: AdminUnit, code: str) -> bool:
        if commune.pk not in self.farm_flags:
            self.farm_flags[commune.pk] = dict(
                Household.objects.filter(commune=commune).values_list("code", "is_farm"))
        return self.farm_flags[commune.pk].get(code, False)

    def row(self, values: dict[str, Any]) -> tuple[list[Any], bool]:
        with translation.override("vi"):
            facts = phieu_b.read_row(values)
            start = [facts.commune_code, facts.household_code, facts.year or phieu_b.text(values.get("nam"))]
            problems = list(facts.problems)
            commune = rules = None
            if facts.year is not None and not any(p.column == "ma_xa" for p in problems):
                commune = self.commune(facts.commune_code, facts.year)
                if commune is None:
                    problems.append(phieu_b.Problem("ma_xa", _("There is no commune with code %(code)s.")
                                                    % {"code": facts.commune_code}))
            if commune is not None:
                try:
                    standard = self.forced or services.standard_for(facts.year, commune)
                    rules = self.rules_of(standard)
                except ValidationError as exc:
                    problems.append(phieu_b.Problem("nam", " ".join(exc.messages)))
            if rules is not None:
                answers, missing = phieu_b.deprivations_for(facts, rules.indicators)
                problems.extend(missing)
            if problems:
                return [*start, "", "", "", "; ".join(str(p) for p in problems)], False
            is_farm = facts.is_farm if facts.is_farm is not None else self.household_is_farm(
                commune, facts.household_code)
            try:
                result = classify(rules, area=URBAN if commune.is_urban else RURAL, deprivations=answers,
                                  income=facts.income, score_a=facts.score_a, is_farm=is_farm, year=facts.year)
            except InvalidSurvey as exc:
                problem = phieu_b.Problem(phieu_b.COLUMN_OF_FIELD.get(exc.field, ""), exc.message)
                return [*start, "", "", "", str(problem)], False
            gap = "" if result.income_gap is None else result.income_gap
            return [*start, CLASSIFICATION_LABELS[result.category], result.deprivation_count, gap,
                    result.explanation], True
