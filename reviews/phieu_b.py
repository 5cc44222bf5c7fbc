"""One row of the "Phiếu B" sheet of the exchange format → the facts a survey classifies.

Used by `manage.py classify` and meant for an importer of surveys: it reads the
cells with the exchange format's parsers (exchange.values) and reports each
problem with the column's header, so a person can find the cell. It touches no
database: finding the commune and the standard is the caller's work.

The twelve deprivation columns are the indicators of Decree 07/2021/NĐ-CP (and,
provisionally, of 2027–2030); a standard whose indicators differ is matched by
indicator code, and an indicator with no column is reported by `deprivations_for`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _

from exchange import values as parse
from exchange.columns import SURVEYS

# Column key of the sheet → indicator code of the standards shipped in reviews/data/standards.json.
INDICATOR_OF_COLUMN: dict[str, str] = {
    "thieu_viec_lam": "employment",
    "thieu_phu_thuoc": "dependants",
    "thieu_dinh_duong": "nutrition",
    "thieu_bhyt": "health_insurance",
    "thieu_giao_duc": "adult_education",
    "thieu_di_hoc": "child_schooling",
    "thieu_chat_luong_nha": "housing_quality",
    "thieu_dien_tich_nha": "housing_area",
    "thieu_nuoc": "drinking_water",
    "thieu_nha_tieu": "latrine",
    "thieu_vien_thong": "telecom",
    "thieu_thong_tin": "information_assets",
}
COLUMN_OF_INDICATOR = {code: key for key, code in INDICATOR_OF_COLUMN.items()}
# classify()'s field names → the sheet's column keys.
COLUMN_OF_FIELD = {"income": "thu_nhap", "score_a": "diem_a", "year": "nam", "causes": "nguyen_nhan",
                   **COLUMN_OF_INDICATOR}
# "Nguyên nhân nghèo": the causes in one cell, separated by ";" or a line break (names hold commas); the words
# "không"/"none" mean no cause. Besides each cause's Vietnamese name and its code, these are accepted.
CAUSE_ALIASES = {
    "thieu dat": "no_land", "khong co dat": "no_land", "thieu dat san xuat": "no_land",
    "thieu von": "no_capital", "khong co von": "no_capital",
    "thieu lao dong": "no_labour", "khong co lao dong": "no_labour",
    "thieu cong cu": "no_tools", "thieu phuong tien san xuat": "no_tools",
    "khong biet cach lam an": "no_know_how", "thieu kien thuc": "no_know_how",
    "khong co tay nghe": "no_skills", "thieu tay nghe": "no_skills", "khong co ky nang": "no_skills",
    "om dau": "illness", "benh nang": "illness", "tai nan": "illness", "om dau benh nang": "illness",
    "khac": "other", "nguyen nhan khac": "other",
}
NO_CAUSE = {"khong", "none", "-"}


def header(key: str) -> str:
    """The header a person sees for a column key (“Thu nhập bình quân” for thu_nhap)."""
    try:
        return SURVEYS.column(key).header
    except StopIteration:
        return key


@dataclass(frozen=True)
class Problem:
    column: str  # column key ("" for the row as a whole)
    message: str

    def __str__(self) -> str:
        return f"{header(self.column)}: {self.message}" if self.column else self.message


@dataclass
class Facts:
    """What one Phiếu B row says; `is_farm` is None when the row leaves it to the household's own flag."""

    commune_code: str = ""
    household_code: str = ""
    year: int | None = None
    income: int | None = None
    score_a: int | None = None
    flags: dict[str, bool] = field(default_factory=dict)  # indicator code → deprived (columns present)
    is_farm: bool | None = None
    causes: list[str] | None = None  # None: the row says nothing, and a survey keeps the causes it has
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def text(value: Any) -> str:
    """A cell as text; a whole number that a spreadsheet stored as a float loses its ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_row(values: dict[str, Any]) -> Facts:
    """Parse one row (`exchange.reader.Row.values`); every problem is kept, each naming its column."""
    facts = Facts()

    def cell(key: str, parser, *, required: bool):
        raw = values.get(key, "")
        if _empty(raw):
            if required:
                facts.problems.append(Problem(key, _("this cell is empty.")))
            return None
        try:
            return parser(raw)
        except ValidationError as exc:
            facts.problems.append(Problem(key, " ".join(exc.messages)))
            return None

    facts.commune_code = cell("ma_xa", parse.parse_commune_code, required=True) or text(values.get("ma_xa"))
    facts.household_code = text(values.get("ma_ho"))
    if not facts.household_code:
        facts.problems.append(Problem("ma_ho", _("this cell is empty.")))
    facts.year = cell("nam", parse.parse_year, required=True)
    facts.income = cell("thu_nhap", parse.parse_money, required=False)
    facts.score_a = cell("diem_a", _parse_score, required=False)
    if _empty(values.get("thu_nhap", "")) and _empty(values.get("diem_a", "")):
        facts.problems.append(Problem("thu_nhap", _("fill in the income per person or, with the scoring method, "
                                                    "“%(score)s”.") % {"score": header("diem_a")}))
    elif facts.income is not None and facts.score_a is not None:
        facts.problems.append(Problem("thu_nhap", _("fill in the income per person or “%(score)s”, not both.")
                                      % {"score": header("diem_a")}))
    for key, code in INDICATOR_OF_COLUMN.items():
        if key in values:
            flag = cell(key, parse.parse_yes_no, required=True)
            if flag is not None:
                facts.flags[code] = flag
    facts.is_farm = cell("nong_nghiep", parse.parse_yes_no, required=False)
    facts.causes = cell("nguyen_nhan", parse_causes, required=False)
    return facts


def _cause_names() -> dict[str, str]:
    from core.text import fold
    from reviews.models import PovertyCause

    names = dict(CAUSE_ALIASES)
    with translation.override("vi"):
        for cause in PovertyCause:
            names[fold(str(cause.label))] = cause.value
            names[cause.value.replace("_", " ")] = cause.value
    return names


def parse_causes(value: Any) -> list[str]:
    """The causes of poverty written in one cell, as PovertyCause codes in the list's order."""
    from core.text import fold
    from reviews.models import PovertyCause

    parts = [part.strip() for part in re.split(r"[;\n]+", text(value)) if part.strip()]
    if len(parts) == 1 and fold(parts[0]) in NO_CAUSE:
        return []
    names, found, unknown = _cause_names(), set(), []
    for part in parts:
        code = names.get(" ".join(fold(part).replace("_", " ").split()))
        if code is None:
            unknown.append(part)
        else:
            found.add(code)
    if unknown:
        known = "; ".join(str(cause.label) for cause in PovertyCause)
        raise ValidationError(_("“%(value)s” is not a cause of poverty; write one or more of: %(known)s "
                                "(separated by “;”), or “Không”.") % {"value": "; ".join(unknown), "known": known})
    return [code for code in PovertyCause.values if code in found]


def format_causes(codes: list[str] | None) -> str:
    """The causes as the sheet writes them: their Vietnamese names separated by "; "."""
    from reviews.models import PovertyCause

    labels = dict(PovertyCause.choices)
    with translation.override("vi"):
        return "; ".join(str(labels[code]) for code in codes or () if code in labels)


def _parse_score(value: Any) -> int:
    number = text(value)
    if number.isdigit() and int(number) <= 10_000:
        return int(number)
    raise ValidationError(_("“%(value)s” is not a score; write a whole number of points, zero or more.")
                          % {"value": number})


def deprivations_for(facts: Facts, indicator_codes: tuple[str, ...]) -> tuple[dict[str, bool], list[Problem]]:
    """The answers for a standard's indicators; an indicator the sheet has no column for is a problem."""
    answers, problems = {}, []
    for code in indicator_codes:
        if code in facts.flags:
            answers[code] = facts.flags[code]
        elif code not in COLUMN_OF_INDICATOR:
            problems.append(Problem("", _("The sheet has no column for indicator “%(code)s” of this standard.")
                                    % {"code": code}))
        elif not any(p.column == COLUMN_OF_INDICATOR[code] for p in facts.problems):
            # (A flag that failed to parse is already among facts.problems.)
            problems.append(Problem(COLUMN_OF_INDICATOR[code], _("the sheet has no such column.")))
    return answers, problems
