"""Demo data: households of Lào Cai's Mường Khương and Bát Xát districts (2021 map).

`build()` is called by `manage.py seed_demo`. It makes sure the 2021 map is
loaded, creates the demo users, and — unless the demo households are already
there — a few thousand households with their members in thirteen communes,
shaped like what the province reports: about half the households poor in the
high Mông/Dao/Hà Nhì communes (Tả Thàng, La Pan Tẩn, Y Tý, A Lù, Dền Thàng,
Sàng Ma Sáo), few in the district town.

The names, villages, ages and identifiers are invented, but drawn so that they
look real; nothing here describes a real person. Everything is drawn from one
seeded `random.Random`, so two runs on empty databases give the same data.

Rows are written with bulk_create, so the derived columns are computed here
exactly as `services.refresh_derived` computes them, and one CREATE audit event
per household and per member is recorded with `source=demo`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TextIO

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import Change, diff, record_many, snapshot
from core.models import AuditEvent
from core.text import fold, nfc
from geo.models import AdminUnit

from . import services, summaries
from .models import Ethnicity, Household, Member
from .reference import load_ethnicities

EDITION = AdminUnit.Edition.E2021.value
PROVINCE_CODE = "10"  # Lào Cai
MUONG_KHUONG, BAT_XAT = "083", "082"
TA_THANG, LA_PAN_TAN, TT_MUONG_KHUONG = "02794", "02791", "02761"

SEED = 20_250_010
# The last recognised classification, and the year ages are counted from.
CLASSIFICATION_YEAR = 2025
REFERENCE_YEAR = 2025
DEMO = AuditEvent.Source.DEMO  # the audit trail names the demo as the path of its writes
PASSWORD = "demo12345"  # noqa: S105 - the published demo password


class DemoError(Exception):
    """The demo cannot be built (the map or the ethnic groups are missing)."""


# --- what to build -------------------------------------------------------------

@dataclass(frozen=True)
class CommunePlan:
    code: str
    households: int
    poor: float       # share of households classified poor
    near_poor: float  # share classified near-poor
    ethnic_mix: dict[str, int]  # weights of the household heads' groups
    villages: Sequence[str]
    highland: bool = True  # a high, difficult commune (health insurance, remoteness)


def _tdp(count: int) -> list[str]:
    return [f"Tổ dân phố {n}" for n in range(1, count + 1)]


COMMUNES: tuple[CommunePlan, ...] = (
    # Mường Khương (083)
    CommunePlan(TA_THANG, 262, 0.50, 0.17, {"Mông": 86, "Phù Lá": 6, "Dao": 4, "Kinh": 2, "Tày": 2},
                ["Thôn Tả Thàng", "Thôn Sả Hồ", "Thôn Sín Chải", "Thôn Lao Chải", "Thôn Na Pên",
                 "Thôn Lùng Sán"]),
    CommunePlan(LA_PAN_TAN, 284, 0.49, 0.18, {"Mông": 80, "Phù Lá": 8, "Dao": 8, "Kinh": 2, "Tày": 2},
                ["Thôn La Pan Tẩn", "Thôn Pải Chư Phìn", "Thôn Sả Lùng Chéng", "Thôn Mào Sao Chải",
                 "Thôn Cốc Cài", "Thôn Hoàng Phìn", "Thôn Ngải Thầu"]),
    CommunePlan(TT_MUONG_KHUONG, 452, 0.04, 0.05,
                {"Kinh": 50, "Nùng": 14, "Tày": 12, "Giáy": 12, "Mông": 7, "Phù Lá": 3, "Dao": 2},
                _tdp(8), highland=False),
    CommunePlan("02752", 243, 0.41, 0.18, {"Mông": 85, "Dao": 5, "Tày": 4, "Kinh": 3, "Phù Lá": 3},
                ["Thôn Pha Long 1", "Thôn Pha Long 2", "Thôn Lao Chải", "Thôn Sín Chải",
                 "Thôn Tả Lùng Thàng", "Thôn Phìn Giàng"]),
    CommunePlan("02788", 338, 0.12, 0.10,
                {"Kinh": 30, "Nùng": 25, "Giáy": 10, "Tày": 10, "Dao": 10, "Mông": 10, "Phù Lá": 5},
                ["Thôn Na Lốc 1", "Thôn Na Lốc 2", "Thôn Cốc Phương", "Thôn Cốc Cài", "Thôn Na Pao",
                 "Bản Xả", "Thôn Mới", "Thôn Lùng Cẩu"], highland=False),
    CommunePlan("02785", 258, 0.22, 0.14,
                {"Nùng": 35, "Tày": 20, "Mông": 20, "Kinh": 10, "Dao": 10, "Giáy": 5},
                ["Bản Lùng Vai", "Thôn Na Khui", "Thôn Cốc Chứ", "Thôn Văng Leng", "Thôn Tùng Lâu",
                 "Thôn Mới"], highland=False),
    CommunePlan("02782", 231, 0.40, 0.18, {"Mông": 70, "Phù Lá": 15, "Dao": 10, "Kinh": 5},
                ["Thôn Cao Sơn", "Thôn Lả Dì Thàng", "Thôn Sín Chải", "Thôn Sảng Chải", "Thôn Pờ Chồ"]),
    # Bát Xát (082)
    CommunePlan("02701", 304, 0.52, 0.16, {"Mông": 55, "Hà Nhì": 40, "Dao": 3, "Kinh": 2},
                ["Thôn Lao Chải", "Thôn Choản Thèn", "Thôn Ngải Thầu", "Thôn Mò Phú Chải", "Thôn Phìn Hồ",
                 "Thôn Hồng Ngài", "Thôn Sín Chải", "Thôn Tả Gì Thàng"]),
    CommunePlan("02692", 238, 0.51, 0.17, {"Hà Nhì": 45, "Mông": 40, "Dao": 13, "Kinh": 2},
                ["Thôn A Lù", "Thôn Phìn Hồ", "Thôn Phìn Ngan Sán", "Thôn Sáo Chải", "Thôn Can Hồ"]),
    CommunePlan("02722", 196, 0.53, 0.17, {"Dao": 55, "Mông": 37, "Giáy": 4, "Kinh": 4},
                ["Thôn Dền Thàng", "Thôn Phìn Chải", "Thôn Tả Suối Câu", "Thôn Ngải Chồ"]),
    CommunePlan("02713", 252, 0.48, 0.18, {"Dao": 50, "Mông": 35, "Hà Nhì": 10, "Kinh": 5},
                ["Thôn Sàng Ma Sáo", "Thôn Cán Cấu", "Thôn Nậm Giề", "Thôn Tả Câu Ngài", "Thôn Cốc Dàm",
                 "Thôn Ky Quan San"]),
    CommunePlan("02695", 301, 0.28, 0.15,
                {"Dao": 40, "Giáy": 25, "Mông": 15, "Kinh": 10, "Hà Nhì": 5, "Phù Lá": 5},
                ["Bản Trịnh Tường", "Thôn Na Dạo", "Thôn Pèng", "Thôn Ná Lùng", "Thôn Lũng Pô", "Thôn Cốc Ngù",
                 "Thôn Tùng Chỉn"], highland=False),
    CommunePlan("02710", 279, 0.15, 0.12, {"Giáy": 35, "Kinh": 25, "Dao": 20, "Tày": 10, "Mông": 10},
                ["Thôn Bản Vược", "Thôn Bản Trung", "Thôn Na Pèng", "Thôn Mới"], highland=False),
)

# Groups with large families and early marriage in the demo's age structure.
HIGH_FERTILITY = {"Mông", "Dao", "Hà Nhì", "Phù Lá"}


@dataclass(frozen=True)
class NameBank:
    surnames: Sequence[str]
    male_middle: Sequence[str]
    male_given: Sequence[str]
    female_given: Sequence[str]
    female_middle: Sequence[str] = ("Thị",)


NAMES: dict[str, NameBank] = {
    "Mông": NameBank(
        surnames=["Giàng", "Sùng", "Vàng", "Thào", "Lù", "Ly", "Hầu", "Mua", "Cháng", "Tráng", "Lò", "Sình"],
        male_middle=["A", "A", "A", "Seo", "Seo", "Văn"],
        male_given=["Páo", "Chứ", "Sử", "Dìn", "Sáng", "Pử", "Chúng", "Lử", "Tủa", "Dính", "Chư", "Vư",
                    "Sính", "Pao", "Thề", "Lềnh", "Giống", "Phừ", "Chản", "Cở", "Khai", "Nhìa"],
        female_given=["Mỷ", "Dở", "Mai", "Pà", "Chía", "Mỉ", "Say", "Sênh", "Dợ", "Chi", "Lìa", "Mằn",
                      "Sua", "Dung", "Xúa", "Cở", "Ký"],
    ),
    "Dao": NameBank(
        surnames=["Tẩn", "Chảo", "Phàn", "Lý", "Triệu", "Đặng", "Bàn"],
        male_middle=["Láo", "Láo", "Láo", "Văn", "Văn", "Seo"],
        male_given=["San", "Lở", "Tả", "Chài", "Phin", "Quẩy", "Vảng", "Lai", "Sành", "Chạn", "Dín",
                    "Kiềm", "Chòi", "Phù", "Lìn"],
        female_given=["Mẩy", "Chiêu", "Dào", "Sai", "Sấn", "Kiều", "Dếnh", "Nái", "Liều", "Phây", "Sành",
                      "Lở", "Mai"],
    ),
    "Giáy": NameBank(
        surnames=["Hoàng", "Lù", "Vàng", "Lò", "Giàng", "Sầm"],
        male_middle=["Văn"],
        male_given=["Pao", "Thắng", "Chẳn", "Sáu", "Pín", "Dìn", "Tiến", "Cường", "Hùng", "Sơn", "Sinh",
                    "Lợi"],
        female_given=["Sen", "Lan", "Mến", "Xuân", "Hằng", "Thương", "Liên", "Nga", "Phương", "Hoa"],
    ),
    "Tày": NameBank(
        surnames=["Nông", "Hoàng", "Hà", "Lục", "Ma", "Vi", "Lương", "Lường"],
        male_middle=["Văn", "Văn", "Văn", "Đức", "Quang"],
        male_given=["Tư", "Thắng", "Sinh", "Chiến", "Dũng", "Hải", "Quang", "Tuấn", "Bình", "Toàn", "Hưng"],
        female_given=["Lan", "Hoa", "Hiền", "Thủy", "Mai", "Hà", "Nga", "Hương", "Tươi", "Nhung"],
    ),
    "Nùng": NameBank(
        surnames=["Vàng", "Lù", "Hoàng", "Nùng", "Lục", "Sần", "Lồ"],
        male_middle=["Văn"],
        male_given=["Chẩn", "Pao", "Sáng", "Dìn", "Phủ", "Chính", "Hùng", "Tiến", "Thào", "Quyền", "Lâm"],
        female_given=["Hoa", "Mai", "Dung", "Sinh", "Liên", "Nhung", "Phượng", "Sâm", "Vân"],
    ),
    "Phù Lá": NameBank(
        surnames=["Pờ", "Ly", "Sần", "Lý", "Chảo", "Giàng"],
        male_middle=["Văn"],
        male_given=["Sáng", "Thanh", "Chung", "Dìn", "Lâm", "Hòa", "Sơn", "Pao", "Chiến"],
        female_given=["Dung", "Mai", "Sinh", "Hoa", "Lan", "Sen", "Dính", "Ngân"],
    ),
    "Hà Nhì": NameBank(
        surnames=["Chu", "Lỳ", "Phu", "Sần", "Pờ", "Ly", "Hù", "Mỳ", "Sừ"],
        male_middle=["A", "Văn", "Văn"],
        male_given=["Há", "Chà", "Giơ", "Phìn", "Chừ", "Sừ", "Xá", "Hừ", "Lừ", "Dờ", "Ngà", "Thò"],
        female_given=["Mé", "Lù", "Xa", "Sa", "Giá", "Cà", "Lơ", "Mỳ", "Sá", "Gờ"],
    ),
    "Kinh": NameBank(
        surnames=["Nguyễn", "Nguyễn", "Nguyễn", "Trần", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đỗ", "Bùi",
                  "Đặng", "Ngô", "Phan", "Dương", "Đinh"],
        male_middle=["Văn", "Văn", "Văn", "Văn", "Đức", "Minh", "Quang", "Xuân", "Hữu", "Công"],
        male_given=["Bình", "Hùng", "Dũng", "Hải", "Tuấn", "Nam", "Thắng", "Cường", "Long", "Sơn", "Trung",
                    "Hiếu", "Quân", "Phúc", "An", "Khánh", "Thành", "Tùng"],
        female_given=["Hoa", "Lan", "Hương", "Mai", "Hà", "Nga", "Hằng", "Thủy", "Linh", "Trang", "Huyền",
                      "Thảo", "Ngân", "Yến", "Vy", "Anh"],
        female_middle=["Thị", "Thị", "Thị", "Thị", "Thu", "Ngọc", "Hồng", "Phương"],
    ),
}

# Where people were registered at birth (first three digits of a personal ID):
# Lào Cai, and for part of the Kinh adults the lowland provinces they came from.
LAO_CAI_ID_PREFIX = "010"
OTHER_ID_PREFIXES = ["001", "015", "022", "025", "030", "034", "035", "036", "037", "038"]
# Old 9-digit ID cards issued in Lào Cai began with 063.
LEGACY_ID_PREFIX = "063"
PHONE_PREFIXES = ["097", "098", "096", "086", "035", "036", "037", "038", "039", "091", "094", "088", "032",
                  "033", "034", "084", "085", "081", "082", "083", "070", "079"]


@dataclass(frozen=True)
class DemoUser:
    username: str
    last_name: str
    first_name: str
    role: str = ""
    unit_level: str = ""
    unit_code: str = ""
    superuser: bool = False


def demo_users() -> list[DemoUser]:
    role = get_user_model().Role
    commune, district, province = (AdminUnit.Level.COMMUNE, AdminUnit.Level.DISTRICT,
                                   AdminUnit.Level.PROVINCE)
    return [
        DemoUser("xa_tathang", "Vàng", "Thị Mai", role.COMMUNE_OFFICER, commune, TA_THANG),
        DemoUser("xa_lapantan", "Sùng", "Văn Chứ", role.COMMUNE_OFFICER, commune, LA_PAN_TAN),
        DemoUser("huyen_muongkhuong", "Nguyễn", "Thị Thu Hà", role.REVIEWER, district, MUONG_KHUONG),
        DemoUser("huyen_batxat", "Hoàng", "Văn Thắng", role.REVIEWER, district, BAT_XAT),
        DemoUser("tinh_laocai", "Trần", "Minh Đức", role.PROVINCE_ADMIN, province, PROVINCE_CODE),
        DemoUser("admin", "Phạm", "Quốc Khánh", superuser=True),
    ]


# --- the builder ---------------------------------------------------------------

@dataclass
class Result:
    map_loaded: bool = False
    already_there: bool = False
    communes: int = 0
    villages: int = 0
    households: int = 0
    members: int = 0
    users_created: list[str] = field(default_factory=list)
    users_existing: list[str] = field(default_factory=list)
    review_rounds: int = 0
    reviews_already_there: bool = False


def build(stdout: TextIO | None = None) -> Result:
    """Build the demo (idempotent) and write a short summary to `stdout`."""
    from reviews.models import Indicator, PovertyStandard
    from reviews.standards import load_standards

    result = Result()
    with transaction.atomic():
        result.map_loaded = ensure_map()
        # Shipped by a migration; loaded again here in case a database was emptied since.
        load_standards(PovertyStandard, Indicator)
        units = _units()
        ethnicities = _ethnicities()
        _create_users(units, result)
        communes = [units[(AdminUnit.Level.COMMUNE, plan.code)] for plan in COMMUNES]
        history = None
        if Household.objects.filter(commune=units[(AdminUnit.Level.COMMUNE, TA_THANG)]).exists():
            result.already_there = True
        else:
            history = _Builder(random.Random(SEED), ethnicities).build(communes, result)
        _ReviewBuilder(units, communes, history, result).build()
    if stdout is not None:
        _report(stdout, result)
    # A year of support on top of the reviews (programs, loans, courses, registrations).
    from programs.demo import build_support

    build_support(communes, stdout)
    # The figures pages read stored rollups: compute every demo year now, not only the years a change marked.
    from reports.compute import recompute_all, report_years

    for year in report_years():
        recompute_all(year)
    return result


def ensure_map() -> bool:
    """Load the 2021 map when Lào Cai or one of the demo's units is missing; True if loaded."""
    from geo.services import AdminUnitDataError, load_admin_units

    if _missing_units():
        try:
            load_admin_units(EDITION)
        except AdminUnitDataError as exc:
            raise DemoError(str(exc)) from exc
        missing = _missing_units()
        if missing:
            raise DemoError(_("The 2021 map has no unit with code %(codes)s.") % {"codes": ", ".join(missing)})
        return True
    return False


def _wanted_units() -> list[tuple[str, str]]:
    return [
        (AdminUnit.Level.PROVINCE, PROVINCE_CODE),
        (AdminUnit.Level.DISTRICT, MUONG_KHUONG),
        (AdminUnit.Level.DISTRICT, BAT_XAT),
        *((AdminUnit.Level.COMMUNE, plan.code) for plan in COMMUNES),
    ]


def _missing_units() -> list[str]:
    wanted = _wanted_units()
    have = set(
        AdminUnit.objects.filter(edition=EDITION, code__in=[code for _level, code in wanted])
        .values_list("level", "code")
    )
    return [code for level, code in wanted if (str(level), code) not in have]


def _units() -> dict[tuple[str, str], AdminUnit]:
    codes = [code for _level, code in _wanted_units()]
    units = {
        (unit.level, unit.code): unit
        for unit in AdminUnit.objects.filter(edition=EDITION, code__in=codes).select_related("parent")
    }
    return {(str(level), code): units[(str(level), code)] for level, code in _wanted_units()}


def _ethnicities() -> dict[str, Ethnicity]:
    wanted = set(NAMES)
    found = {e.name: e for e in Ethnicity.objects.filter(name__in=wanted)}
    if wanted - found.keys():
        # Shipped by a migration; loaded again in case a database was emptied since.
        load_ethnicities(Ethnicity)
        found = {e.name: e for e in Ethnicity.objects.filter(name__in=wanted)}
    missing = sorted(wanted - found.keys())
    if missing:
        raise DemoError(_("Ethnic groups missing from the database (run migrate): %(names)s")
                        % {"names": ", ".join(missing)})
    return found


def _create_users(units: dict[tuple[str, str], AdminUnit], result: Result) -> None:
    """Create the demo users that do not exist; an existing one is left exactly as it is."""
    user_model = get_user_model()
    specs = demo_users()
    existing = set(user_model.objects.filter(username__in=[s.username for s in specs])
                   .values_list("username", flat=True))
    # One hash for all the new demo users: the password is published anyway, and
    # each PBKDF2 hash costs ~0.4 s.
    password_hash = make_password(PASSWORD) if len(existing) < len(specs) else ""
    for spec in specs:
        if spec.username in existing:
            result.users_existing.append(spec.username)
            continue
        user = user_model(
            username=spec.username,
            first_name=spec.first_name,
            last_name=spec.last_name,
            role=spec.role,
            unit=units[(str(spec.unit_level), spec.unit_code)] if spec.unit_code else None,
            is_staff=True,  # role users use the (scoped) admin too
            is_superuser=spec.superuser,
            password=password_hash,
        )
        user.clean()
        user.save()
        result.users_created.append(spec.username)


def _report(stdout: TextIO, result: Result) -> None:
    if result.map_loaded:
        stdout.write(_("Loaded the 2021 administrative map.") + "\n")
    if result.already_there:
        stdout.write(_("The demo households are already there (Tả Thàng has households); none were added.") + "\n")
    else:
        stdout.write(
            _("Demo data for Lào Cai: %(communes)d communes, %(villages)d villages, %(households)d households, "
              "%(members)d persons.") % {
                "communes": result.communes, "villages": result.villages,
                "households": result.households, "members": result.members,
            } + "\n"
        )
    if result.reviews_already_there:
        stdout.write(_("The demo reviews are already there; none were added.") + "\n")
    elif result.review_rounds:
        stdout.write(_("Demo reviews: %(rounds)d review rounds through every step.") % {
            "rounds": result.review_rounds} + "\n")
    if result.users_created:
        stdout.write(_("Demo users created (password %(password)s): %(names)s") % {
            "password": PASSWORD, "names": ", ".join(result.users_created)} + "\n")
    if result.users_existing:
        stdout.write(_("Demo users already there (left unchanged): %(names)s") % {
            "names": ", ".join(result.users_existing)} + "\n")


# --- households and members ------------------------------------------------------

@dataclass
class _Person:
    full_name: str
    sex: str
    age: int
    ethnicity: str
    relation: str
    surname: str = ""


class _Builder:
    def __init__(self, rng: random.Random, ethnicities: dict[str, Ethnicity]):
        self.rng = rng
        self.ethnicities = ethnicities
        self.used_ids: set[str] = set(
            Member.objects.exclude(personal_id="").values_list("personal_id", flat=True)
        )

    # -- names and people --

    def name(self, ethnicity: str, sex: str, surname: str | None = None) -> tuple[str, str]:
        bank = NAMES[ethnicity]
        surname = surname or self.rng.choice(bank.surnames)
        if sex == Member.Sex.MALE:
            parts = [surname, self.rng.choice(bank.male_middle), self.rng.choice(bank.male_given)]
        else:
            parts = [surname, self.rng.choice(bank.female_middle), self.rng.choice(bank.female_given)]
        return nfc(" ".join(parts)), surname

    def other_surname(self, ethnicity: str, not_this: str) -> str:
        # Mông (and Dao) marry outside their clan: the spouse's surname differs.
        choices = [s for s in NAMES[ethnicity].surnames if s != not_this] or list(NAMES[ethnicity].surnames)
        return self.rng.choice(choices)

    def person(self, ethnicity: str, sex: str, age: int, relation: str, surname: str | None = None) -> _Person:
        full_name, surname = self.name(ethnicity, sex, surname)
        return _Person(full_name, sex, max(age, 0), ethnicity, relation, surname)

    def pick(self, weights: dict[str, float]) -> str:
        names = list(weights)
        return self.rng.choices(names, weights=[weights[n] for n in names])[0]

    def family(self, ethnicity: str, spouse_mix: dict[str, float]) -> list[_Person]:
        """One household's people: head first, then spouse, children, elders, the rest."""
        rng = self.rng
        male, female = Member.Sex.MALE, Member.Sex.FEMALE
        relation = Member.Relation
        high = ethnicity in HIGH_FERTILITY
        head_age = int(rng.triangular(19 if high else 22, 86, 36 if high else 42))
        female_head = rng.random() < (0.08 if high else 0.16)
        head = self.person(ethnicity, female if female_head else male, head_age, relation.HEAD)
        people = [head]

        # The couple.
        if female_head:
            married = rng.random() < 0.12
        else:
            married = rng.random() < (0.93 if head_age < 60 else 0.72 if head_age < 72 else 0.45)
        gap = rng.choice([0, 1, 2, 2, 3, 3, 4, 5, 6, 8])
        father_surname = head.surname
        if married:
            spouse_eth = ethnicity if rng.random() < 0.9 else self.pick(spouse_mix)
            if female_head:
                spouse = self.person(spouse_eth, male, head_age + gap, relation.SPOUSE,
                                     self.other_surname(spouse_eth, head.surname) if spouse_eth == ethnicity
                                     else None)
                father_surname = spouse.surname
            else:
                spouse = self.person(spouse_eth, female, max(head_age - gap, 17 if high else 19), relation.SPOUSE,
                                     self.other_surname(spouse_eth, head.surname) if spouse_eth == ethnicity
                                     else None)
            people.append(spouse)
            mother_age = spouse.age if not female_head else head_age
        else:
            mother_age = head_age if female_head else head_age - gap
            if female_head:
                father_surname = self.other_surname(ethnicity, head.surname)

        # Children, born to the mother from her late teens (highland) or twenties.
        count = rng.choices(range(0, 8), weights=[2, 6, 18, 26, 22, 14, 8, 4] if high
                            else [3, 18, 44, 24, 8, 3, 0, 0])[0]
        if not married and not female_head and head_age < 28:
            count = 0  # a young man living on his own (or with his parents, below)
        birth_age = rng.randint(17, 21) if high else rng.randint(21, 28)
        stays_son = None
        for _n in range(count):
            age = mother_age - birth_age
            birth_age += rng.choice([1, 2, 2, 2, 3, 3, 4])
            if age < 1 or birth_age > 46:
                break
            sex = rng.choice([male, female])
            # Grown children marry and leave; one grown son may stay with his own family.
            leaves = 0.7 if age < 30 else 0.95
            if sex == female and age >= (18 if high else 21) and rng.random() < leaves:
                continue
            if sex == male and age >= (20 if high else 23):
                if stays_son is None and head_age >= 45 and rng.random() < 0.65:
                    stays_son = self.person(ethnicity, male, age, relation.CHILD, father_surname)
                    people.append(stays_son)
                    continue
                if rng.random() < leaves - 0.05:
                    continue
            people.append(self.person(ethnicity, sex, age, relation.CHILD, father_surname))
        if stays_son is not None and rng.random() < 0.75:
            wife = self.person(ethnicity, female, stays_son.age - rng.randint(0, 4), relation.OTHER,
                               self.other_surname(ethnicity, stays_son.surname))
            people.append(wife)
            first = rng.randint(18, 23) if high else rng.randint(22, 28)
            for _n in range(rng.choices([0, 1, 2, 3, 4], weights=[2, 4, 4, 3, 1] if high else [3, 5, 3, 1, 0])[0]):
                age = wife.age - first
                first += rng.choice([2, 2, 3, 4])
                if age < 1:
                    break
                people.append(self.person(ethnicity, rng.choice([male, female]), age, relation.GRANDCHILD,
                                          stays_son.surname))

        # Elders: the head's widowed parent (or both) in some young households.
        if head_age < 55 and rng.random() < 0.24:
            parent_age = min(head_age + rng.randint(20, 30), 94)
            mother = self.person(ethnicity, female, parent_age - rng.randint(0, 4), relation.PARENT,
                                 self.other_surname(ethnicity, head.surname))
            people.append(mother)
            if rng.random() < 0.35 and not female_head:
                people.append(self.person(ethnicity, male, min(parent_age + rng.randint(0, 5), 96),
                                          relation.PARENT, head.surname))
        elif head_age < 32 and rng.random() < 0.04:
            people.append(self.person(ethnicity, female, min(head_age + rng.randint(42, 52), 95),
                                      relation.GRANDPARENT, self.other_surname(ethnicity, head.surname)))
        # A young unmarried brother or sister.
        if head_age < 35 and rng.random() < 0.06:
            sibling_age = max(head_age - rng.randint(2, 10), 8)
            sex = rng.choice([male, female])
            people.append(self.person(ethnicity, sex, sibling_age, relation.SIBLING, head.surname))
        return people

    # -- identifiers --

    def birth(self, person: _Person) -> tuple[int, date | None]:
        year = REFERENCE_YEAR - person.age
        known = 0.85 if person.age < 20 else 0.55 if person.age < 60 else 0.3
        if person.ethnicity == "Kinh":
            known += 0.15
        if self.rng.random() < known:
            day = date(year, 1, 1) + timedelta(days=self.rng.randrange(365))
            return year, min(day, timezone.localdate())
        return year, None

    def personal_id(self, person: _Person, birth_year: int, urban: bool) -> tuple[str, bool]:
        rng = self.rng
        draw = rng.random()
        if person.age >= 14:
            if draw < 0.04:
                return "", False
            if person.age >= 55 and draw < 0.24:
                return self._unique(lambda: f"{LEGACY_ID_PREFIX}{rng.randrange(1_000_000):06d}"), True
        elif draw < 0.3 or (person.age < 6 and draw < 0.4):
            return "", False
        prefix = LAO_CAI_ID_PREFIX
        if person.ethnicity == "Kinh" and person.age >= 25 and rng.random() < (0.4 if urban else 0.25):
            prefix = rng.choice(OTHER_ID_PREFIXES)
        century_sex = (0 if birth_year < 2000 else 2) + (1 if person.sex == Member.Sex.FEMALE else 0)
        return self._unique(lambda: f"{prefix}{century_sex}{birth_year % 100:02d}{rng.randrange(1_000_000):06d}"), False

    def _unique(self, make) -> str:
        while True:
            value = make()
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value

    def phone(self) -> str:
        return self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randrange(10_000_000):07d}"

    # -- the whole demo --

    def generate(self, communes: list[AdminUnit]) -> tuple[list[Household], list[list[Member]]]:
        """Draw every household and its member rows, unsaved (only the villages are written)."""
        households: list[Household] = []
        families: list[list[_Person]] = []
        for plan, commune in zip(COMMUNES, communes, strict=True):
            start = len(households)
            remoteness = self._commune(plan, commune, households, families)
            self._classify(plan, households[start:], families[start:], remoteness)
        per_household = [self._members(h, people) for h, people in zip(households, families, strict=True)]
        for household, rows in zip(households, per_household, strict=True):
            household.search_text = services.derived_values(household, rows)["search_text"]
        return households, per_household

    def build(self, communes: list[AdminUnit], result: Result) -> dict[tuple[int, str], tuple[str, ...]]:
        """Write the households as they were before the first demo review; return their history.

        The drawn classification is the latest (recognised in CLASSIFICATION_YEAR);
        the reviews of the two years up to it, run through the services, bring
        each household there from the classification written here, which a
        decision of the year before them recognises (`_ReviewBuilder.lists_in_force`).
        """
        households, per_household = self.generate(communes)
        history = review_history(households)
        for household in households:
            household.classification = history[(household.commune_id, household.code)][0]
            household.classification_year = (
                None if household.classification == Household.Classification.NONE else review_years()[0] - 1)
        Household.objects.bulk_create(households, batch_size=500)
        if any(h.pk is None for h in households):  # a backend that returns no ids
            pks = {(c, code): pk for pk, c, code in Household.objects.filter(
                commune__in=communes).values_list("pk", "commune_id", "code")}
            for household in households:
                household.pk = pks[(household.commune_id, household.code)]

        members: list[Member] = []
        for household, rows in zip(households, per_household, strict=True):
            for member in rows:
                member.household = household
            members.extend(rows)
        Member.objects.bulk_create(members, batch_size=1000)
        if any(m.pk is None for m in members):  # inserted in list order: ids follow it
            pks = Member.objects.filter(household__in=households).order_by("pk").values_list("pk", flat=True)
            for member, pk in zip(members, pks, strict=True):
                member.pk = pk

        changes: list[Change] = []
        for household, rows in zip(households, per_household, strict=True):
            changes.append(Change(household, AuditEvent.Action.CREATE, household_id=household.pk,
                                  changes=diff({}, snapshot(household, services.HOUSEHOLD_FIELDS))))
            changes.extend(
                Change(member, AuditEvent.Action.CREATE, household_id=household.pk,
                       changes=diff({}, snapshot(member, services.MEMBER_FIELDS)))
                for member in rows
            )
        record_many(changes, actor=None, source=AuditEvent.Source.DEMO)
        for commune in communes:
            summaries.refresh_commune(commune.pk)
        result.communes = len(communes)
        result.villages = sum(len(plan.villages) for plan in COMMUNES)
        result.households = len(households)
        result.members = len(members)
        return history

    def _commune(self, plan: CommunePlan, commune: AdminUnit, households: list[Household],
                 families: list[list[_Person]]) -> list[float]:
        """Add the commune's households (unsaved); returns each one's village remoteness."""
        rng = self.rng
        villages = [services.get_or_create_village(commune, name) for name in plan.villages]
        # Uneven village sizes; in mixed communes each village leans to some groups.
        counts = _split(plan.households, [rng.uniform(0.6, 1.6) for _v in villages])
        remoteness: list[float] = []
        number = 0
        for village, count in zip(villages, counts, strict=True):
            # Mixed lowland communes have villages of one group or another; elsewhere one group leads everywhere.
            spread = 0.8 if not (plan.highland or commune.is_urban) else 0.4
            mix = {name: weight * rng.lognormvariate(0, spread) for name, weight in plan.ethnic_mix.items()}
            far = rng.uniform(0, 0.3) if plan.highland else rng.uniform(0, 0.15)
            for _n in range(count):
                number += 1
                people = self.family(self.pick(mix), plan.ethnic_mix)
                households.append(self._household(commune, village, f"{number:04d}", people))
                families.append(people)
                remoteness.append(far)
        return remoteness

    def _household(self, commune: AdminUnit, village, code: str, people: list[_Person]) -> Household:
        rng = self.rng
        head = people[0]
        urban = commune.is_urban
        elderly_alone = head.age >= 70 and len(people) <= 2
        return Household(
            commune=commune,
            village=village,
            code=code,
            head_name=head.full_name,
            area=Household.Area.URBAN if urban else Household.Area.RURAL,
            is_farm=rng.random() < (0.2 if urban else 0.93),
            phone=self.phone() if rng.random() < (0.85 if urban else 0.55) else "",
            has_meritorious_member=rng.random() < 0.02,
            is_social_protection=rng.random() < (0.35 if elderly_alone else 0.03),
            is_ethnic_minority=self.ethnicities[head.ethnicity].is_minority,
            member_count=len(people),
        )

    def _classify(self, plan: CommunePlan, households: list[Household], families: list[list[_Person]],
                  remoteness: list[float]) -> None:
        """Exact shares per commune; the neediest-looking households are the poor ones."""
        rng = self.rng

        def need(index: int) -> float:
            household, people = households[index], families[index]
            dependants = sum(1 for p in people if p.age < 15 or p.age >= 60)
            score = rng.random() + remoteness[index]
            score += 0.35 if household.is_ethnic_minority else 0
            score += 0.2 if dependants * 2 > len(people) else 0
            score += 0.15 if people[0].sex == Member.Sex.FEMALE else 0
            score += 0.2 if household.is_social_protection else 0
            return score

        scores = [need(i) for i in range(len(households))]
        order = sorted(range(len(households)), key=scores.__getitem__, reverse=True)
        poor = round(len(households) * plan.poor)
        near = round(len(households) * plan.near_poor)
        for rank, index in enumerate(order):
            household = households[index]
            if rank < poor:
                household.classification = Household.Classification.POOR
                if not household.is_farm:
                    # Poor households in the town mostly still farm a plot.
                    household.is_farm = rng.random() < 0.5
            elif rank < poor + near:
                household.classification = Household.Classification.NEAR_POOR
            elif household.is_farm and rng.random() < (0.12 if plan.highland else 0.08):
                # Middle living standard: farm households only (Decree 07/2021).
                household.classification = Household.Classification.MIDDLE
            else:
                household.classification = Household.Classification.NONE
            household.classification_year = (
                None if household.classification == Household.Classification.NONE else CLASSIFICATION_YEAR
            )

    def _members(self, household: Household, people: list[_Person]) -> list[Member]:
        """The member rows (household not yet set), in the order they will be inserted."""
        rng = self.rng
        urban = household.area == Household.Area.URBAN
        if household.classification == Household.Classification.POOR:
            insured_share = 0.98  # paid by the state for the poor
        elif household.classification == Household.Classification.NEAR_POOR:
            insured_share = 0.9
        else:
            insured_share = 0.8 if urban else 0.72
        rows = []
        for person in people:
            birth_year, birth_date = self.birth(person)
            pid, legacy = self.personal_id(person, birth_year, urban)
            rows.append(Member(
                full_name=person.full_name,
                search_name=fold(person.full_name),
                sex=person.sex,
                birth_date=birth_date,
                birth_year=birth_year,
                personal_id=pid,
                personal_id_is_legacy=legacy,
                ethnicity=self.ethnicities[person.ethnicity],
                relation=person.relation,
                # Children under 6 have a card whatever the household.
                has_health_insurance=rng.random() < (0.97 if person.age < 6 else insured_share),
            ))
        return rows


def _split(total: int, weights: list[float]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders), each part at least 1."""
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    parts = [max(int(r), 1) for r in raw]
    leftovers = sorted(range(len(raw)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    i = 0
    while sum(parts) < total:
        parts[leftovers[i % len(parts)]] += 1
        i += 1
    while sum(parts) > total:
        biggest = max(range(len(parts)), key=parts.__getitem__)
        parts[biggest] -= 1
    return parts


# --- reviews ------------------------------------------------------------------------
#
# Two official years of periodic reviews (the two years before the current one),
# decided in every demo commune, and the current year's review at a different
# step in different communes. Every step goes through reviews.services, so the
# rounds' events, the official statuses and the audit trail are the real ones.
# The services stamp each step with the present time; the demo then dates the
# past years' steps back to when they would have happened (Sept–Dec), which is
# the only thing written here directly.

HISTORY_SEED = SEED + 1
POOR, NEAR, MIDDLE, NONE = "poor", "near_poor", "middle", "none"
ON_LISTS = (POOR, NEAR)
# How a household's classification of a year came about, read backwards: for
# each classification, the chances of each classification the year before.
BEFORE = {
    POOR: ((POOR, 0.86), (NEAR, 0.07), (NONE, 0.07)),
    NEAR: ((POOR, 0.15), (NEAR, 0.75), (NONE, 0.10)),
    MIDDLE: ((POOR, 0.05), (NEAR, 0.07), (MIDDLE, 0.88)),
    NONE: ((POOR, 0.03), (NEAR, 0.05), (NONE, 0.92)),
}
# Households that left the poor list in a regular review and fell back in the
# next periodic one (re-poor), per commune that has them.
RE_POOR_PER_COMMUNE = 2
RE_POOR_COMMUNES = (TA_THANG, LA_PAN_TAN, "02701", "02722")

# The current year's round, commune by commune.
OPEN, PART_SURVEYED, SURVEYED, POSTED, SUBMITTED, RETURNED, APPROVED = (
    "open", "part_surveyed", "surveyed", "posted", "submitted", "returned", "approved")
CURRENT_STEP = {
    TA_THANG: PART_SURVEYED,
    LA_PAN_TAN: POSTED,  # with an open complaint
    "02752": SUBMITTED,  # waiting for the district (huyen_muongkhuong)
    "02782": RETURNED,
    "02788": SURVEYED,
    "02701": APPROVED,  # Bát Xát (huyen_batxat)
    "02692": SUBMITTED,
}
# Phiếu A examples, clearly marked: a real province configures its own in the admin.
EXAMPLE_SCREENING = (
    "Hộ có ô tô đang sử dụng (ví dụ)",
    "Hộ có nhà ở kiên cố trị giá trên 1 tỷ đồng (ví dụ)",
    "Hộ có thành viên hưởng lương hưu trên 3 triệu đồng/tháng (ví dụ)",
)
SIGNER = "Chủ tịch UBND xã"
CHAIRS = ["Giàng Seo Phử", "Vàng A Sử", "Lù Văn Pao", "Tẩn Láo Lở", "Hoàng Văn Sáu", "Sùng A Chứ"]
COMPLAINANTS = ["Thào Seo Dìn", "Lý Thị Mai", "Vàng Văn Chẳn", "Chảo Láo San"]


def review_years() -> tuple[int, int]:
    """The two official years of the demo: the two years before the current one."""
    year = timezone.localdate().year
    return year - 2, year - 1


def _pick(rng: random.Random, choices) -> str:
    draw, total = rng.random(), 0.0
    for value, weight in choices:
        total += weight
        if draw < total:
            return value
    return choices[-1][0]


def review_history(households: list[Household]) -> dict[tuple[int, str], tuple[str, ...]]:
    """(commune id, code) → (before the first year, first year, second year, "re_poor" or "").

    The last classification is the one drawn; earlier ones are drawn backwards
    from it. A household off the lists stays as it was (only a review moves it),
    and middle living standard is only ever a farm household's.
    """
    rng = random.Random(HISTORY_SEED)
    history = {}
    re_poor: dict[int, int] = {}
    codes = {}
    for household in households:
        last = str(household.classification)
        years = [last]
        for _n in range(2):
            before = _pick(rng, BEFORE[years[0]])
            if before == MIDDLE and not household.is_farm:
                before = NONE
            if before not in ON_LISTS and years[0] not in ON_LISTS and before != years[0]:
                before = years[0]
            years.insert(0, before)
        codes.setdefault(household.commune_id, household.commune.code if household.commune_id else "")
        mark = ""
        if (years[1] == POOR and years[2] == POOR and codes[household.commune_id] in RE_POOR_COMMUNES
                and re_poor.get(household.commune_id, 0) < RE_POOR_PER_COMMUNE and rng.random() < 0.05):
            re_poor[household.commune_id] = re_poor.get(household.commune_id, 0) + 1
            mark = "re_poor"
        history[(household.commune_id, household.code)] = (*years, mark)
    return history


def _at(day: date, hour: int = 9):
    return timezone.make_aware(datetime.combine(day, time(hour)))


class _ReviewBuilder:
    def __init__(self, units, communes: list[AdminUnit], history, result: Result):
        from reviews import services as review_services
        from reviews.models import ReviewRound

        self.services = review_services
        self.ReviewRound = ReviewRound
        self.units, self.communes, self.history, self.result = units, communes, history, result
        self.rng = random.Random(HISTORY_SEED + 1)
        self.indicators: dict[int, list[str]] = {}
        self.today = timezone.localdate()
        user_model = get_user_model()
        self.admin = user_model.objects.get(username="admin")
        self.officers = {u.unit.code: u for u in user_model.objects.filter(
            role=user_model.Role.COMMUNE_OFFICER, username__in=["xa_tathang", "xa_lapantan"]).select_related("unit")}
        self.reviewers = {u.unit.code: u for u in user_model.objects.filter(
            username__in=["huyen_muongkhuong", "huyen_batxat"]).select_related("unit")}

    def officer(self, commune: AdminUnit):
        return self.officers.get(commune.code, self.admin)

    def reviewer(self, commune: AdminUnit):
        return self.reviewers.get(commune.parent.code, self.admin)

    def build(self) -> None:
        self.screening_rules()
        if self.ReviewRound.objects.filter(commune__in=self.communes).exists():
            self.result.reviews_already_there = True
            return
        households = list(Household.objects.filter(commune__in=self.communes, is_archived=False)
                          .select_related("commune", "village").order_by("commune_id", "code"))
        if self.history is None:
            # Households of an earlier demo, without reviews: their years are as they are now.
            self.history = {(h.commune_id, h.code): (h.classification,) * 3 + ("",) for h in households}
        first, second = review_years()
        for commune in self.communes:
            mine = [h for h in households if h.commune_id == commune.pk]
            self.lists_in_force(commune, first - 1)
            self.official_year(commune, first, {h.pk: self.history[(h.commune_id, h.code)][1] for h in mine})
            repoor = [h for h in mine if self.history[(h.commune_id, h.code)][3]]
            if repoor:
                self.regular_exit(commune, second, repoor)
            self.official_year(commune, second, {h.pk: self.history[(h.commune_id, h.code)][2] for h in mine})
            self.current_year(commune)
        summaries_refresh = {c.pk for c in self.communes}
        for pk in summaries_refresh:
            summaries.refresh_commune(pk)

    def screening_rules(self) -> None:
        """Example Phiếu A rules: the law leaves the stop rules open, so they live in the demo only, labelled."""
        from reviews.models import ScreeningRule

        standard = self.services.standard_for(self.today.year, self.communes[0])
        for number, question in enumerate(EXAMPLE_SCREENING, start=1):
            ScreeningRule.objects.get_or_create(standard=standard, number=number,
                                                defaults={"question": question, "stops": True})

    # -- survey facts --

    def facts(self, round_, household, category: str) -> dict:
        """Phiếu B facts that the standard classifies as `category` for this household."""
        rng, standard = self.rng, round_.standard
        urban = household.area == Household.Area.URBAN
        line = standard.income_line_urban if urban else standard.income_line_rural
        middle = standard.middle_line_urban if urban else standard.middle_line_rural
        if standard.pk not in self.indicators:
            self.indicators[standard.pk] = list(standard.indicators.values_list("code", flat=True))
        codes = self.indicators[standard.pk]
        cutoff = standard.deprivation_cutoff
        is_farm = household.is_farm
        if category == POOR:
            income, count = rng.randrange(line * 4 // 10, line + 1), rng.choice([cutoff, cutoff, cutoff + 1,
                                                                               cutoff + 1, cutoff + 2, cutoff + 3])
        elif category == NEAR:
            income, count = rng.randrange(line * 55 // 100, line + 1), rng.randrange(0, cutoff)
        elif category == MIDDLE:
            income, count, is_farm = rng.randrange(line + 10_000, middle + 1), rng.randrange(0, 5), True
        else:
            income, count = rng.randrange(middle + 10_000, middle * 2), rng.randrange(0, 4)
        income -= income % 10_000
        if category in ON_LISTS:
            income = min(income, line)
        deprived = set(rng.sample(codes, count))
        facts = {"income": income, "deprivations": {code: code in deprived for code in codes}, "is_farm": is_farm}
        if category in ON_LISTS:
            facts["causes"] = self.causes(household)
        return facts

    CAUSE_WEIGHTS = {"no_capital": 30, "no_land": 18, "no_labour": 14, "no_know_how": 12, "no_skills": 10,
                     "illness": 9, "no_tools": 5, "other": 2}

    def causes(self, household) -> list[str]:
        """One or two causes of poverty, from the household's own seed (the facts' sequence is untouched)."""
        own = random.Random(household.pk * 7919)
        picked = set(own.choices(list(self.CAUSE_WEIGHTS), weights=list(self.CAUSE_WEIGHTS.values()),
                                 k=own.choice([1, 1, 2])))
        return sorted(picked)

    # -- the steps --

    def survey_all(self, round_, actor, targets: dict[int, str], surveys=None) -> None:
        # The services read the survey's round and commune: fetched here once, not once per survey.
        if surveys is None:
            surveys = round_.surveys.select_related("household", "round__commune", "round__standard")
        entries = []
        for survey in surveys:
            category = targets.get(survey.household_id, survey.previous_category)
            entries.append((survey, self.facts(round_, survey.household, category)))
        self.services.record_surveys(actor=actor, round_=round_, entries=entries, source=DEMO)

    def meetings(self, round_, actor, held_on: date) -> None:
        by_village: dict[int, list] = {}
        for survey in round_.surveys.filter(status="surveyed", votes_agree__isnull=True).select_related(
                "household__village"):
            by_village.setdefault(survey.household.village_id, []).append(survey)
        for surveys in by_village.values():
            attendance = self.rng.randint(25, 70)
            votes = {s.pk: self.rng.randint(attendance * 6 // 10, attendance) for s in surveys}
            self.services.record_meeting(actor=actor, round_=round_, village=surveys[0].household.village,
                                         held_on=held_on, attendance=attendance,
                                         chaired_by=self.rng.choice(CHAIRS), votes=votes,
                                         secretary=self.rng.choice(CHAIRS), source=DEMO)

    def requests_for(self, commune: AdminUnit, targets: dict[int, str], received: date) -> None:
        """Mẫu 01 from households about to join the lists; Mẫu 04 from some of those about to leave."""
        from reviews.models import Request

        households = Household.objects.filter(pk__in=targets, is_archived=False).select_related("commune")
        for household in households:
            now, target = household.classification, targets[household.pk]
            kind = None
            if now not in ON_LISTS and target in ON_LISTS:
                kind = Request.Kind.ADD
            elif now in ON_LISTS and target not in ON_LISTS and self.rng.random() < 0.3:
                kind = Request.Kind.EXIT
            if kind is not None:
                self.services.create_request(
                    actor=self.officer(commune), household=household, kind=kind,
                    received_on=received - timedelta(days=self.rng.randrange(0, 25)),
                    channel=self.rng.choice(list(Request.Channel.values)),
                    reason="Gia đình gặp khó khăn" if kind == Request.Kind.ADD else "Gia đình đã có thu nhập ổn định",
                    source=DEMO)

    def decide(self, round_, actor, reviewer, *, submitted: date, approved: date, decided: date,
               number: str) -> None:
        self.services.submit_round(actor=actor, round_=round_)
        self.ReviewRound.objects.filter(pk=round_.pk).update(submitted_at=_at(submitted))
        self.services.approve_round(actor=reviewer, round_=round_)
        self.services.record_decision(actor=actor, round_=round_, number=number, decided_on=decided, signer=SIGNER)

    def backdate(self, round_, *, opened: date, surveyed: date, submitted: date | None = None,
                 reviewed: date | None = None, decided: date | None = None) -> None:
        """Date the steps of a round to when they happened (the services stamp them with the present time)."""
        from reviews.models import ReviewEvent, Survey, VillageMeeting

        when = {
            ReviewEvent.Action.OPENED: opened, ReviewEvent.Action.LISTED: opened,
            ReviewEvent.Action.SURVEYED: surveyed, ReviewEvent.Action.SUBMITTED: submitted,
            ReviewEvent.Action.APPROVED: reviewed, ReviewEvent.Action.RETURNED: reviewed,
            ReviewEvent.Action.DECIDED: decided,
        }
        self.ReviewRound.objects.filter(pk=round_.pk).update(
            opened_at=_at(opened), **({"submitted_at": _at(submitted)} if submitted else {}),
            **({"reviewed_at": _at(reviewed, 14)} if reviewed else {}),
            **({"decided_at": _at(decided, 15)} if decided else {}))
        for action, day in when.items():
            if day is not None:
                ReviewEvent.objects.filter(round=round_, action=action).update(at=_at(day))
        for meeting in VillageMeeting.objects.filter(round=round_):
            meeting.round.events.filter(action=ReviewEvent.Action.MEETING,
                                        comment__startswith=f"{meeting.village.name}:").update(
                at=_at(meeting.held_on, 16))
        VillageMeeting.objects.filter(round=round_).update(recorded_at=_at(surveyed, 17))
        if round_.posting_start:
            ReviewEvent.objects.filter(round=round_, action=ReviewEvent.Action.POSTED).update(
                at=_at(round_.posting_start))
        Survey.objects.filter(round=round_, surveyed_at__isnull=False).update(surveyed_at=_at(surveyed, 10))
        if decided is not None:
            AuditEvent.objects.filter(batch=f"round-{round_.pk}").update(at=_at(decided, 15))

    def lists_in_force(self, commune: AdminUnit, year: int) -> None:
        """The decision of `year` that recognised the lists the register was entered from, before the
        commune used the application. The register holds only what a decision recognised: the decision
        service records every household's classification as its official status (unchanged), so the
        overview, the household list and the official figures count the same households."""
        actor = self.officer(commune)
        decided = date(year, 12, 10)
        round_ = self.ReviewRound.objects.create(
            commune=commune, year=year, standard=self.services.standard_for(year, commune),
            status=self.ReviewRound.Status.APPROVED, opened_by=actor)
        self.services.record_decision(actor=actor, round_=round_, number="190/QĐ-UBND", decided_on=decided,
                                      signer=SIGNER)
        round_.refresh_from_db()
        self.backdate(round_, opened=date(year, 9, 5), surveyed=decided, decided=decided)
        self.result.review_rounds += 1

    def official_year(self, commune: AdminUnit, year: int, targets: dict[int, str]) -> None:
        actor, reviewer = self.officer(commune), self.reviewer(commune)
        self.requests_for(commune, targets, date(year, 8, 28))
        from reviews.models import Request

        Request.objects.filter(household__commune=commune, created_at__date=self.today,
                               received_on__year=year).update(created_at=_at(date(year, 8, 28)))
        opened, surveyed = date(year, 9, 5), date(year, 9, 5) + timedelta(days=self.rng.randrange(10, 30))
        held = date(year, 10, self.rng.randrange(10, 20))
        posting = held + timedelta(days=5)
        submitted = date(year, 11, self.rng.randrange(1, 10))
        reviewed = submitted + timedelta(days=self.rng.randrange(5, 12))
        decided = date(year, 12, self.rng.randrange(1, 12))
        round_ = self.services.open_round(actor=actor, commune=commune, year=year)
        self.survey_all(round_, actor, targets)
        self.meetings(round_, actor, held)
        self.services.record_posting(actor=actor, round_=round_, start=posting, days=3, source=DEMO)
        self.decide(round_, actor, reviewer, submitted=submitted, approved=reviewed, decided=decided,
                    number=f"{self.rng.randrange(80, 240)}/QĐ-UBND")
        round_.refresh_from_db()
        self.backdate(round_, opened=opened, surveyed=surveyed, submitted=submitted, reviewed=reviewed,
                      decided=decided)
        self.result.review_rounds += 1

    def regular_exit(self, commune: AdminUnit, year: int, households: list[Household]) -> None:
        """A regular review in May: the households asked to leave the poor list (Mẫu 04) and did."""
        from reviews.models import Request, ReviewRound

        actor, reviewer = self.officer(commune), self.reviewer(commune)
        for household in households:
            self.services.create_request(actor=actor, household=household, kind=Request.Kind.EXIT,
                                         received_on=date(year, 4, self.rng.randrange(15, 29)),
                                         channel=Request.Channel.IN_PERSON, reason="Gia đình đã có thu nhập ổn định",
                                         source=DEMO)
        round_ = self.services.open_round(actor=actor, commune=commune, year=year, kind=ReviewRound.Kind.REGULAR,
                                          month=5)
        self.survey_all(round_, actor, {h.pk: NONE for h in households})
        self.meetings(round_, actor, date(year, 5, 20))
        self.services.record_posting(actor=actor, round_=round_, start=date(year, 5, 22), days=3, source=DEMO)
        self.decide(round_, actor, reviewer, submitted=date(year, 5, 28), approved=date(year, 5, 30),
                    decided=date(year, 6, 3), number=f"{self.rng.randrange(20, 80)}/QĐ-UBND")
        round_.refresh_from_db()
        self.backdate(round_, opened=date(year, 5, 15), surveyed=date(year, 5, 18), submitted=date(year, 5, 28),
                      reviewed=date(year, 5, 30), decided=date(year, 6, 3))
        self.result.review_rounds += 1

    def current_year(self, commune: AdminUnit) -> None:
        """This year's periodic round, at the step CURRENT_STEP gives the commune; every step on or before today."""
        from reviews.models import Complaint, Request

        step = CURRENT_STEP.get(commune.code, OPEN)
        actor, reviewer, today = self.officer(commune), self.reviewer(commune), self.today
        round_ = self.services.open_round(actor=actor, commune=commune, year=today.year)
        self.result.review_rounds += 1
        opened, surveyed, held, posting = (today - timedelta(days=d) for d in (45, 35, 25, 20))
        surveys = list(round_.surveys.select_related("household", "round__commune", "round__standard"))
        # Mostly the same as last year; a few escape.
        targets = {s.household_id: (NEAR if s.previous_category == POOR else NONE) if self.rng.random() < 0.08
                   else s.previous_category for s in surveys}
        if step != OPEN:
            chosen = surveys[: len(surveys) // 2] if step == PART_SURVEYED else surveys
            self.survey_all(round_, actor, targets, chosen)
        if step not in (OPEN, PART_SURVEYED):
            self.meetings(round_, actor, held)
        submitted = reviewed = None
        if step not in (OPEN, PART_SURVEYED, SURVEYED):
            self.services.record_posting(actor=actor, round_=round_, start=posting, days=3, source=DEMO)
        if step == POSTED:
            household = surveys[0].household
            self.services.record_complaint(actor=actor, round_=round_, complainant=self.rng.choice(COMPLAINANTS),
                                           received_on=posting + timedelta(days=1), household=household,
                                           content=f"Đề nghị xem lại kết quả của hộ {household.head_name}: "
                                                   "gia đình mới mua xe máy.", source=DEMO)
        if step in (SUBMITTED, RETURNED, APPROVED):
            submitted = today - timedelta(days=10)
            self.services.submit_round(actor=actor, round_=round_)
        if step == RETURNED:
            reviewed = today - timedelta(days=4)
            self.services.return_round(actor=reviewer, round_=round_, household_comments={
                surveys[0].pk: "Thu nhập ghi chưa khớp với phiếu B; đề nghị xã kiểm tra lại."},
                comment="Đề nghị xã bổ sung biên bản họp thôn và kiểm tra lại hộ có ghi chú.")
        if step == APPROVED:
            reviewed = today - timedelta(days=3)
            self.services.approve_round(actor=reviewer, round_=round_, comment="Thống nhất danh sách của xã.")
        round_.refresh_from_db()
        self.backdate(round_, opened=opened, surveyed=surveyed, submitted=submitted, reviewed=reviewed)
        assert step != POSTED or Complaint.objects.filter(round=round_, outcome="").exists()

        # Requests received since the round opened, waiting for an answer: some due, some late (15 days).
        if commune.code in (TA_THANG, LA_PAN_TAN, "02752", "02701"):
            off = list(Household.objects.filter(commune=commune, is_archived=False, classification=NONE)
                       .order_by("code")[:3])
            for household, days in zip(off, (3, 9, 24), strict=False):
                self.services.create_request(actor=actor, household=household, kind=Request.Kind.ADD,
                                             received_on=today - timedelta(days=days),
                                             channel=Request.Channel.VILLAGE_HEAD, reason="Gia đình có người ốm nặng",
                                             source=DEMO)
            poor = Household.objects.filter(commune=commune, is_archived=False, classification=POOR).order_by(
                "-code").first()
            if poor is not None:
                self.services.create_request(actor=actor, household=poor, kind=Request.Kind.EXIT,
                                             received_on=today - timedelta(days=30),
                                             channel=Request.Channel.IN_PERSON,
                                             reason="Gia đình tự nguyện ra khỏi danh sách hộ nghèo", source=DEMO)
