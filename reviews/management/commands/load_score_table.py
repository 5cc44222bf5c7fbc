"""`manage.py load_score_table FILE --standard CODE [--province CODE]`: load a Phiếu B point table.

The item-by-item points of score A (Circular 07/2021/TT-BLĐTBXH) are data, per
standard and optionally per province; the application ships none. The file is
a CSV with the columns question, question_text, answer, answer_text, area
(empty, rural/urban or Nông thôn/Thành thị) and points. Every row is checked
first: a file with a bad row writes nothing. Loading the same file again
changes nothing.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from exchange.values import parse_area
from geo.models import AdminUnit
from reviews import services
from reviews.models import ScoreItem

COLUMNS = ("question", "question_text", "answer", "answer_text", "area", "points")
LIMITS = {"question": 20, "question_text": 300, "answer": 20, "answer_text": 300}


class Command(BaseCommand):
    help = gettext_lazy("Load the Phiếu B point table (score A) of a standard from a CSV file; safe to re-run.")

    def add_arguments(self, parser):
        parser.add_argument("file", help=gettext_lazy("a CSV file with the columns question, question_text, answer, "
                                                         "answer_text, area, points"))
        parser.add_argument("--standard", required=True, help=gettext_lazy("the code of the standard"))
        parser.add_argument("--province", default="", help=gettext_lazy("the province code, for a province's table"))
        parser.add_argument("--edition", type=int, default=None,
                            help=gettext_lazy("the map edition of the province code (2021 or 2025) when both "
                                              "have that code"))

    def handle(self, *args: Any, file: str, standard: str, province: str, edition: int | None,
               **options: Any) -> None:
        path = Path(file)
        if not path.is_file():
            raise CommandError(_("There is no file at %(path)s.") % {"path": path})
        try:
            standard_obj = services.standard_by_code(standard)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        province_obj = self._province(province, edition) if province else None
        items, problems = self._read(path)
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(_("Nothing was loaded: correct the rows above and run the command again."))

        created = updated = unchanged = 0
        with transaction.atomic():
            for item in items:
                key = {"standard": standard_obj, "province": province_obj, "question": item["question"],
                       "answer": item["answer"], "area": item["area"]}
                stored = ScoreItem.objects.select_for_update().filter(**key).first()
                if stored is None:
                    ScoreItem.objects.create(**key, question_text=item["question_text"],
                                             answer_text=item["answer_text"], points=item["points"])
                    created += 1
                    continue
                new = {name: item[name] for name in ("question_text", "answer_text", "points")}
                if all(getattr(stored, name) == value for name, value in new.items()):
                    unchanged += 1
                    continue
                for name, value in new.items():
                    setattr(stored, name, value)
                stored.save(update_fields=list(new))
                updated += 1
        self.stdout.write(_("Score table of %(standard)s%(province)s: %(created)d created, %(updated)d updated, "
                            "%(unchanged)d unchanged.") % {
            "standard": standard_obj.code, "province": f" ({province_obj.name})" if province_obj else "",
            "created": created, "updated": updated, "unchanged": unchanged})

    def _province(self, code: str, edition: int | None) -> AdminUnit:
        provinces = AdminUnit.objects.filter(level=AdminUnit.Level.PROVINCE, code=code.strip())
        if edition is not None:
            provinces = provinces.filter(edition=edition)
        found = list(provinces)
        if not found:
            raise CommandError(_("There is no province with code %(code)s.") % {"code": code})
        if len(found) > 1:
            raise CommandError(_("Province code %(code)s stands in both editions of the map; add --edition 2021 "
                                 "or --edition 2025.") % {"code": code})
        return found[0]

    def _read(self, path: Path) -> tuple[list[dict[str, Any]], list[str]]:
        try:
            content = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            return [], [_("The file is not UTF-8 text; save it as “CSV UTF-8”.")]
        reader = csv.DictReader(io.StringIO(content))
        headers = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in headers]
        if missing:
            return [], [_("The file lacks the columns: %(columns)s.") % {"columns": ", ".join(missing)}]
        reader.fieldnames = headers
        items, problems, seen = [], [], {}
        for number, raw in enumerate(reader, start=2):
            row = {name: (raw.get(name) or "").strip() for name in COLUMNS}
            if not any(row.values()):
                continue
            errors = []
            for name, limit in LIMITS.items():
                if not row[name]:
                    errors.append(_("%(column)s is empty") % {"column": name})
                elif len(row[name]) > limit:
                    errors.append(_("%(column)s is longer than %(limit)d characters") % {"column": name,
                                                                                          "limit": limit})
            area = ""
            if row["area"]:
                try:
                    area = parse_area(row["area"])
                except ValidationError:
                    errors.append(_("area “%(value)s” is not rural, urban or empty") % {"value": row["area"]})
            try:
                points = int(row["points"])
                if not -1000 <= points <= 1000:
                    raise ValueError
            except ValueError:
                errors.append(_("points “%(value)s” is not a whole number") % {"value": row["points"]})
                points = None
            key = (row["question"], row["answer"], area)
            if not errors and key in seen:
                errors.append(_("the same question, answer and area as row %(row)d") % {"row": seen[key]})
            seen.setdefault(key, number)
            if errors:
                problems.append(_("Row %(row)d: %(errors)s.") % {"row": number, "errors": "; ".join(errors)})
            else:
                items.append({**row, "area": area, "points": points})
        if not items and not problems:
            problems.append(_("The file has no rows."))
        return items, problems
