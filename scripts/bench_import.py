#!/usr/bin/env python
"""Import benchmark: django-import-export's default resource against our import, on one file.

    python scripts/bench_import.py --households N [--members-per-household 4]
        [--format csv|xlsx] [--database-url postgres://...] [--baseline-rows M] [--keep] [--profile FILE]

One run:

1. picks a database: --database-url (or BENCH_DATABASE_URL), else a throwaway
   PostgreSQL database `bench_import` created on 127.0.0.1:5432 and dropped at the
   end, else (PostgreSQL unreachable) a temporary SQLite file, and says which;
2. migrates it, loads the 2021 map, and creates a province administrator of Lào
   Cai (10), whose area is the whole province;
3. writes a synthetic province list: N households spread over Lào Cai's communes
   and villages, with their members (invented Vietnamese names, consistent
   personal IDs, exactly one head each), as two UTF-8 CSV files (default) or one
   XLSX workbook (see `write_province` for the choice);
4. in a child process, imports the first M rows of that list with a plain
   `modelresource_factory(Household)` / `(Member)` resource of
   django-import-export (the baseline), and rolls them back;
5. in another child process, imports the whole list end to end as a user does:
   `exchange.services` create_bundle → check_batch → confirm_batch → import_batch
   (what `manage.py import_file` runs), whichever path (in memory or staged)
   `services` picks for its size;
6. prints rows/s of both, their ratio, the peak memory (VmHWM) of each child, and
   the machine.

Each import runs in its own process so that its peak resident memory is its own
(not the generator's, nor the other import's).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

PROVINCE_CODE = "10"  # Lào Cai on the 2021 map
EDITION = 2021
THROWAWAY_DB = "bench_import"
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PROVINCE_USER = "bench_tinh_laocai"
RESULT_MARK = "BENCH-RESULT "
# Excel's last row is 1,048,576; one is the header.
XLSX_DATA_ROWS = 1_048_575
# The goals of the issue.
GOAL_ROWS_PER_S = 20_000
GOAL_RATIO = 25
GOAL_PEAK_MB = 500
GOAL_HOUSEHOLDS = 500_000

_STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress goes to stderr so that stdout carries only the results."""
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


# -- database ----------------------------------------------------------------------------


@dataclass
class Database:
    url: str
    label: str  # what the report prints
    throwaway_pg: str = ""  # name of the PostgreSQL database we created and must drop
    sqlite_dir: str = ""  # directory of the temporary SQLite file
    note: str = ""


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def choose_database(option: str | None) -> Database:
    """The database to run on.

    An explicit URL is used as it is (migrated, never created nor dropped).
    Without one we make our own, so that a benchmark never writes millions of
    rows into the database the application's DATABASE_URL points at (which is
    why plain DATABASE_URL is not read here).
    """
    explicit = option or os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return Database(explicit, "given: " + explicit.split("@")[-1])
    import psycopg

    admin_url = os.environ.get("BENCH_PG_ADMIN_URL", PG_ADMIN_URL)
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{THROWAWAY_DB}"')
            conn.execute(f"CREATE DATABASE \"{THROWAWAY_DB}\" ENCODING 'UTF8' TEMPLATE template0")
    except psycopg.Error as exc:
        directory = tempfile.mkdtemp(prefix="bench-import-sqlite-")
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        return Database(
            f"sqlite:///{directory}/bench.sqlite3",
            "SQLite (fallback)",
            sqlite_dir=directory,
            note=f"PostgreSQL at {urlsplit(admin_url).hostname} is unreachable ({reason}); "
            "running on a temporary SQLite file instead. These figures are NOT the PostgreSQL goal.",
        )
    return Database(
        _with_database(admin_url, THROWAWAY_DB), f"throwaway database {THROWAWAY_DB}", throwaway_pg=THROWAWAY_DB
    )


def drop_database(database: Database) -> None:
    if database.throwaway_pg:
        import psycopg

        admin_url = os.environ.get("BENCH_PG_ADMIN_URL", PG_ADMIN_URL)
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database.throwaway_pg}"')
        except psycopg.Error as exc:
            log(f"could not drop database {database.throwaway_pg}: {exc}")
    if database.sqlite_dir:
        shutil.rmtree(database.sqlite_dir, ignore_errors=True)


def child_environment(database_url: str, media_root: str) -> dict[str, str]:
    """What this process and the children set Django up with."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
        "DATABASE_URL": database_url,
        # Production runs without DEBUG; with it Django would also keep the text of
        # every query, which costs time and memory a real import does not spend.
        "DEBUG": "False",
        # No broker: confirm_batch then runs the import task in this process right
        # after its commit, as `manage.py import_file` does; with a broker set in
        # the environment the import would run in some worker and go unmeasured.
        "CELERY_BROKER_URL": "",
        "BENCH_MEDIA_ROOT": media_root,
    }


def setup_django(environment: dict[str, str]) -> None:
    os.environ.update(environment)
    import django

    django.setup()
    from django.conf import settings

    # Uploads are copied under MEDIA_ROOT; keep the benchmark's out of the project's media/.
    settings.MEDIA_ROOT = environment["BENCH_MEDIA_ROOT"]
    from config.celery import app

    app.conf.task_always_eager = True
    # One INFO line per eager task (a summary refresh per commune) would bury the report.
    logging.getLogger("celery").setLevel(logging.WARNING)
    logging.getLogger("kombu").setLevel(logging.ERROR)  # "no hostname": there is no broker, by design


# -- the synthetic province ----------------------------------------------------------------

# Invented names, drawn from syllables common in each group's naming; they describe nobody.
KINH_FAMILIES = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Vũ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Ngô",
    "Dương",
    "Lương",
    "Đinh",
    "Hà",
    "Nông",
    "Lục",
    "Vi",
    "Lã",
    "Mai",
    "Hứa",
]
KINH_MIDDLE = {
    "male": ["Văn", "Đức", "Minh", "Quang", "Hữu", "Công", "Thế", "Xuân"],
    "female": ["Thị", "Thị", "Thu", "Ngọc", "Thanh", "Hồng", "Kim"],
}
KINH_GIVEN = {
    "male": [
        "An",
        "Bình",
        "Cường",
        "Dũng",
        "Hải",
        "Hùng",
        "Khánh",
        "Long",
        "Nam",
        "Phong",
        "Quân",
        "Sơn",
        "Thắng",
        "Tuấn",
        "Việt",
        "Toàn",
        "Lâm",
        "Hiếu",
        "Thành",
        "Trung",
    ],
    "female": [
        "Anh",
        "Chi",
        "Dung",
        "Hà",
        "Hằng",
        "Hoa",
        "Hương",
        "Lan",
        "Linh",
        "Mai",
        "Nga",
        "Nhung",
        "Phương",
        "Thảo",
        "Trang",
        "Yến",
        "Huyền",
        "Loan",
        "Tâm",
        "Vân",
    ],
}
MONG_FAMILIES = ["Giàng", "Thào", "Sùng", "Vàng", "Lý", "Hầu", "Mã", "Lù", "Cư", "Tráng", "Vừ", "Hạng"]
MONG_MIDDLE = {"male": ["A", "A", "Seo", "Chẩn"], "female": ["Thị"]}
MONG_GIVEN = {
    "male": [
        "Páo",
        "Sử",
        "Dính",
        "Chứ",
        "Lử",
        "Pử",
        "Sáng",
        "Dế",
        "Chồ",
        "Tủa",
        "Vảng",
        "Sính",
        "Chá",
        "Lềnh",
        "Phổng",
        "Dìn",
    ],
    "female": ["Mỷ", "Sua", "Dợ", "Mai", "Dua", "Pà", "Sú", "Chù", "Súa", "Say", "Dí", "Mề"],
}
DAO_FAMILIES = ["Triệu", "Bàn", "Phùn", "Tẩn", "Lý", "Chảo", "Đặng", "Sần"]
DAO_MIDDLE = {"male": ["Láo", "Seo", "Kiềm", "Văn", "Tà"], "female": ["Thị", "Mẩy", "Thị"]}
DAO_GIVEN = {
    "male": ["Lở", "Chàn", "Phù", "Quẩy", "Sinh", "Tả", "Vần", "Chiêu", "Kiều", "Lai", "Cao", "Phin"],
    "female": ["Mẩy", "Sử", "Nái", "Chạn", "Liều", "Xuân", "Chài", "Kiệu", "Dín", "Phây"],
}
HANHI_FAMILIES = ["Chu", "Ly", "Pờ", "Sừ", "Lỳ", "Phu"]
HANHI_MIDDLE = {"male": ["Xá", "Chừ", "A"], "female": ["Mỳ", "Thị", "Xé"]}
HANHI_GIVEN = {
    "male": ["Gia", "Phìn", "Chừ", "Cà", "Sạ", "Hừ", "Khừ", "Pa"],
    "female": ["Lù", "Gơ", "Sa", "Mé", "Chò", "Xá", "Pó"],
}
NAME_STYLES = {
    "kinh": (KINH_FAMILIES, KINH_MIDDLE, KINH_GIVEN),
    "mong": (MONG_FAMILIES, MONG_MIDDLE, MONG_GIVEN),
    "dao": (DAO_FAMILIES, DAO_MIDDLE, DAO_GIVEN),
    "hanhi": (HANHI_FAMILIES, HANHI_MIDDLE, HANHI_GIVEN),
}
# Lào Cai's population by group, roughly (weights, not a census), and how its names are built.
ETHNIC_MIX: list[tuple[str, int, str]] = [
    ("Kinh", 35, "kinh"),
    ("Mông", 25, "mong"),
    ("Tày", 14, "kinh"),
    ("Dao", 14, "dao"),
    ("Giáy", 4, "kinh"),
    ("Nùng", 4, "kinh"),
    ("Hà Nhì", 2, "hanhi"),
    ("Phù Lá", 1, "kinh"),
    ("Bố Y", 1, "kinh"),
]
# Syllables of place names in the north-west highlands, for village names.
PLACE_SYLLABLES = [
    "Sín",
    "Chải",
    "Lao",
    "Nậm",
    "Pung",
    "Cốc",
    "Ly",
    "Pha",
    "Long",
    "Tả",
    "Ngải",
    "Chồ",
    "Na",
    "Lốc",
    "Bản",
    "Phố",
    "Cán",
    "Hồ",
    "Mường",
    "Hum",
    "Sả",
    "Lùng",
    "Thàng",
    "Pờ",
    "Sì",
    "Mào",
    "Sao",
    "Khoang",
    "Phìn",
    "Coóc",
    "Mù",
    "Chéng",
    "Tủng",
    "Ván",
    "Si",
    "Ma",
    "Hoàng",
    "Thèn",
]
# Provinces where a birth may have been registered (first 3 digits of a personal ID): mostly Lào Cai.
ID_PROVINCES = ["010"] * 18 + ["001", "002", "015", "008"]
ID_SERIAL_STEP = 387_403  # odd and not a multiple of 5: n -> n * step mod 10^6 is one-to-one
PHONE_PREFIXES = [
    "086",
    "096",
    "097",
    "098",
    "032",
    "033",
    "034",
    "035",
    "036",
    "037",
    "038",
    "039",
    "091",
    "094",
    "088",
    "081",
    "082",
    "083",
    "084",
    "085",
    "070",
    "076",
    "077",
    "078",
    "079",
]
RELATION_LABEL = {"head": "Chủ hộ", "spouse": "Vợ/Chồng", "child": "Con", "parent": "Bố/Mẹ", "grandchild": "Cháu"}
LAST_BIRTH_YEAR = 2024


@dataclass(frozen=True)
class Commune:
    code: str
    is_urban: bool
    villages: tuple[str, ...]


@dataclass
class Person:
    name: str
    sex: str  # "male" | "female"
    born: int
    relation: str


class Population:
    """Draws villages, households and people from one seeded random source."""

    def __init__(self, seed: int, members_per_household: int):
        self.random = random.Random(seed)
        self.members_per_household = members_per_household
        self._id_counters: dict[str, int] = {}
        self._groups = [group for group, _weight, _style in ETHNIC_MIX]
        self._weights = [weight for _group, weight, _style in ETHNIC_MIX]
        self._styles = {group: style for group, _weight, style in ETHNIC_MIX}

    def name(self, style: str, sex: str, family: str | None = None) -> str:
        families, middles, givens = NAME_STYLES[style]
        family = family or self.random.choice(families)
        return f"{family} {self.random.choice(middles[sex])} {self.random.choice(givens[sex])}"

    def villages(self, is_urban: bool) -> tuple[str, ...]:
        from core.text import fold

        if is_urban:
            return tuple(f"Tổ dân phố {n}" for n in range(1, self.random.randint(6, 16)))
        names: list[str] = []
        seen: set[str] = set()
        for _ in range(self.random.randint(5, 14)):
            base = " ".join(self.random.sample(PLACE_SYLLABLES, 2))
            name, number = f"Thôn {base}", 2
            # Villages of one commune differ once accents are ignored (the register's rule).
            while fold(name) in seen:
                name, number = f"Thôn {base} {number}", number + 1
            seen.add(fold(name))
            names.append(name)
        return tuple(names)

    def household_sizes(self, count: int) -> Iterator[int]:
        """Sizes around the mean whose total is exactly count x mean: households come
        in pairs, one larger and one smaller by the same amount."""
        mean = self.members_per_household
        spread = min(2, mean - 1)
        for _ in range(count // 2):
            delta = self.random.randint(-spread, spread)
            yield mean + delta
            yield mean - delta
        if count % 2:
            yield mean

    def family(self, size: int) -> tuple[str, list[Person]]:
        """One household's people: the head first, then spouse, a parent, children, grandchildren."""
        rnd = self.random
        group = rnd.choices(self._groups, self._weights)[0]
        style = self._styles[group]
        head_sex = "male" if rnd.random() < 0.78 else "female"
        head_born = rnd.randint(1945, 2000)
        head = Person(self.name(style, head_sex), head_sex, head_born, "head")
        people = [head]
        father_family = head.name.split(" ")[0] if head_sex == "male" else None
        if size >= 2 and rnd.random() < 0.85:
            spouse_sex = "female" if head_sex == "male" else "male"
            spouse = Person(
                self.name(style, spouse_sex),
                spouse_sex,
                min(LAST_BIRTH_YEAR - 16, max(1930, head_born + rnd.randint(-3, 6))),
                "spouse",
            )
            people.append(spouse)
            if spouse_sex == "male":
                father_family = spouse.name.split(" ")[0]
        if len(people) < size and head_born >= 1965 and rnd.random() < 0.2:
            parent_sex = rnd.choice(("male", "female"))
            people.append(
                Person(self.name(style, parent_sex), parent_sex, max(1920, head_born - rnd.randint(20, 34)), "parent")
            )
        while len(people) < size:
            sex = rnd.choice(("male", "female"))
            if head_born <= 1970 and len(people) >= 3 and rnd.random() < 0.4:
                relation, born = "grandchild", rnd.randint(min(head_born + 40, LAST_BIRTH_YEAR), LAST_BIRTH_YEAR)
            else:
                relation = "child"
                born = rnd.randint(min(head_born + 18, LAST_BIRTH_YEAR), min(head_born + 42, LAST_BIRTH_YEAR))
            # Children carry their father's family name.
            people.append(Person(self.name(style, sex, father_family), sex, born, relation))
        return group, people

    def personal_id(self, sex: str, born: int) -> str:
        """A 12-digit ID: province of registration, century and sex, year, then a serial
        unique within that prefix (the layout households.validators checks)."""
        century_sex = 2 * ((born - 1900) // 100) + (1 if sex == "female" else 0)
        prefix = f"{self.random.choice(ID_PROVINCES)}{century_sex}{born % 100:02d}"
        count = self._id_counters.get(prefix, 0)
        if count >= 1_000_000:
            raise SystemExit(
                f"more than a million people born in {born} registered under {prefix[:3]}; lower --households"
            )
        self._id_counters[prefix] = count + 1
        return f"{prefix}{(count * ID_SERIAL_STEP + 4_711) % 1_000_000:06d}"

    def birth(self, year: int) -> str | int:
        """As lists carry it: a full date typed as dd/mm/yyyy, or only the year (a number in XLSX)."""
        if self.random.random() < 0.3:
            return year
        day = date(year, 1, 1) + timedelta(days=self.random.randint(0, 364))
        return day.strftime("%d/%m/%Y")

    def phone(self) -> str:
        if self.random.random() < 0.6:
            return ""
        return self.random.choice(PHONE_PREFIXES) + f"{self.random.randint(0, 9_999_999):07d}"


def lao_cai_communes(population: Population) -> list[Commune]:
    from geo.models import AdminUnit

    units = AdminUnit.objects.filter(
        edition=EDITION, level=AdminUnit.Level.COMMUNE, province__code=PROVINCE_CODE
    ).order_by("code")
    return [Commune(unit.code, unit.is_urban, population.villages(unit.is_urban)) for unit in units]


class ListWriter(Protocol):
    def household(self, cells: list[Any]) -> None: ...
    def members(self, rows: list[list[Any]]) -> None: ...
    def close(self) -> list[Path]: ...


class CsvWriter:
    """Two files as Excel's "CSV UTF-8" saves them: BOM, comma, CRLF."""

    def __init__(self, directory: Path, stem: str):
        from exchange.columns import HOUSEHOLDS, MEMBERS

        self.paths = [directory / f"{stem}_ho_gia_dinh.csv", directory / f"{stem}_thanh_vien.csv"]
        self._files = [path.open("w", encoding="utf-8-sig", newline="") for path in self.paths]
        self._households, self._members = (csv.writer(f, lineterminator="\r\n") for f in self._files)
        self._households.writerow([column.header for column in HOUSEHOLDS.columns])
        self._members.writerow([column.header for column in MEMBERS.columns])

    def household(self, cells: list[Any]) -> None:
        self._households.writerow(cells)

    def members(self, rows: list[list[Any]]) -> None:
        self._members.writerows(rows)

    def close(self) -> list[Path]:
        for handle in self._files:
            handle.close()
        return self.paths


class XlsxWriter:
    """One workbook; members past Excel's last row continue on "Thành viên (2)", as
    our exports do, and a household's members never straddle two sheets.

    openpyxl's write-only mode writes a shared-strings table as Excel does, so the
    reader gets the structure of a real workbook."""

    def __init__(self, directory: Path, stem: str):
        from openpyxl import Workbook

        from exchange.columns import HOUSEHOLDS, MEMBERS

        self.path = directory / f"{stem}.xlsx"
        self._book = Workbook(write_only=True)
        self._member_headers = [column.header for column in MEMBERS.columns]
        self._households = self._book.create_sheet(HOUSEHOLDS.title)
        self._households.append([column.header for column in HOUSEHOLDS.columns])
        self._member_sheets = [self._book.create_sheet(MEMBERS.title)]
        self._member_sheets[0].append(self._member_headers)
        self._on_sheet = 0

    def household(self, cells: list[Any]) -> None:
        self._households.append(cells)

    def members(self, rows: list[list[Any]]) -> None:
        from exchange.columns import MEMBERS

        if self._on_sheet + len(rows) > XLSX_DATA_ROWS:
            sheet = self._book.create_sheet(f"{MEMBERS.title} ({len(self._member_sheets) + 1})")
            sheet.append(self._member_headers)
            self._member_sheets.append(sheet)
            self._on_sheet = 0
        for row in rows:
            self._member_sheets[-1].append(row)
        self._on_sheet += len(rows)

    def close(self) -> list[Path]:
        self._book.save(self.path)
        return [self.path]


@dataclass
class ListInfo:
    format: str
    paths: list[str]
    households: int
    members: int
    bytes: int
    seconds: float

    @property
    def rows(self) -> int:
        return self.households + self.members


def write_province(directory: Path, fmt: str, households: int, members_per_household: int, seed: int) -> ListInfo:
    """The province's list of households and members.

    CSV by default: a province sending millions of rows exports them from a
    database or from Excel as "CSV UTF-8", a file per sheet, uploaded together
    (services.create_bundle, `import_file a.csv b.csv`). XLSX stops at 1,048,576
    rows a sheet (2 million members need two member sheets), is several times
    slower to read, and its reader keeps every distinct text of the workbook in
    memory; `--format xlsx` measures it anyway.

    Households are spread over the communes with random weights, in commune and
    code order as lists are kept; cells are what staff type: codes, names and IDs
    as text, yes/no as Có/Không, a birth date or a bare year.
    """
    started = time.perf_counter()
    population = Population(seed, members_per_household)
    communes = lao_cai_communes(population)
    if not communes:
        raise SystemExit("no commune of Lào Cai (2021) in the database: the map did not load")
    weights = [population.random.uniform(0.4, 1.6) for _ in communes]
    per_commune = [0] * len(communes)
    for index in population.random.choices(range(len(communes)), weights, k=households):
        per_commune[index] += 1
    width = max(5, len(str(max(per_commune))))
    stem = f"lao_cai_{households}_ho"
    writer: ListWriter = CsvWriter(directory, stem) if fmt == "csv" else XlsxWriter(directory, stem)
    sizes = population.household_sizes(households)
    rnd = population.random
    written_households = written_members = 0

    for commune, count in zip(communes, per_commune, strict=True):
        area = "Thành thị" if commune.is_urban else "Nông thôn"
        for number in range(1, count + 1):
            code = str(number).zfill(width)
            group, people = population.family(next(sizes))
            writer.household(
                [
                    commune.code,
                    code,
                    rnd.choice(commune.villages),
                    people[0].name,
                    area,
                    "Không" if commune.is_urban or rnd.random() < 0.15 else "Có",
                    population.phone(),
                    # A first load carries no classification: only a commune decision sets one.
                    "Không",
                    "",
                    "Có" if rnd.random() < 0.03 else "Không",
                    "Có" if rnd.random() < 0.06 else "Không",
                ]
            )
            writer.members(
                [
                    [
                        commune.code,
                        code,
                        person.name,
                        "Nam" if person.sex == "male" else "Nữ",
                        population.birth(person.born),
                        # A few people have no ID on the list (not issued yet, or not known to the officer).
                        "" if rnd.random() < 0.04 else population.personal_id(person.sex, person.born),
                        group,
                        RELATION_LABEL[person.relation],
                        "Có" if rnd.random() < 0.85 else "Không",
                    ]
                    for person in people
                ]
            )
            written_households += 1
            written_members += len(people)
            if written_households % 100_000 == 0:
                log(f"  {written_households:,} households written")
    paths = writer.close()
    return ListInfo(
        fmt,
        [str(path) for path in paths],
        written_households,
        written_members,
        sum(path.stat().st_size for path in paths),
        time.perf_counter() - started,
    )


# -- setting the database up -------------------------------------------------------------


def prepare_database() -> dict[str, Any]:
    """Migrate, load the 2021 map, create the province administrator. Returns facts for the report."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from geo.models import AdminUnit
    from geo.services import load_admin_units
    from households.models import Household

    call_command("migrate", verbosity=0, interactive=False)
    load_admin_units(EDITION)
    province = AdminUnit.objects.get(edition=EDITION, level=AdminUnit.Level.PROVINCE, code=PROVINCE_CODE)
    admin, _created = get_user_model().objects.update_or_create(
        username=PROVINCE_USER, defaults={"role": "province_admin", "unit": province, "is_active": True}
    )
    admin.full_clean(exclude=["password"])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = "PostgreSQL " + cursor.fetchone()[0].split(" ")[0]
    else:
        import sqlite3

        server = "SQLite " + sqlite3.sqlite_version
    return {
        "province": str(province),
        "server": server,
        "existing_households": Household.objects.filter(commune__province=province).count(),
    }


# -- children: the measured imports ---------------------------------------------------------


def _proc_status_mb(field_name: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    peak = _proc_status_mb("VmHWM")
    if peak is not None:
        return peak
    peak_units = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak_units / 2**20 if sys.platform == "darwin" else peak_units / 1024  # bytes on macOS, KB on Linux


def cpu_seconds() -> float:
    """CPU time of this process so far. On a busy machine it shows how much of the
    wall time the import actually ran; the database server's work is not in it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _time_follow_up_tasks() -> dict[str, float]:
    """Time the tasks a commit queues for after it (commune summaries, report rollups).

    With a broker they run in a worker, after the import is done; here (no broker)
    they run in this process right after the import's commit, inside the measured
    time. They are not the import (parse, check, write, audit), so the report gives
    the figure with and without them.
    """
    import households.tasks
    import reports.tasks

    spent = {"seconds": 0.0}

    def timed(function):
        def run(*args, **kwargs):
            mark = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent["seconds"] += time.perf_counter() - mark

        return run

    class TimedTask:
        def __init__(self, task):
            self.task = task

        def __getattr__(self, name):
            return getattr(self.task, name)

        def delay(self, *args, **kwargs):
            return timed(self.task.delay)(*args, **kwargs)

    households.tasks.refresh_commune_summary = TimedTask(households.tasks.refresh_commune_summary)
    reports.tasks.mark_dirty = timed(reports.tasks.mark_dirty)
    return spent


def run_ours(config: dict[str, Any]) -> dict[str, Any]:
    """The whole list through `exchange.services`, as the page and `import_file` run it."""
    from contextlib import ExitStack

    from django.contrib.auth import get_user_model

    from core.models import AuditEvent
    from exchange import bulk, services
    from exchange.models import ImportBatch

    user = get_user_model().objects.get(username=config["user"])
    paths = [Path(path) for path in config["paths"]]
    follow_up = _time_follow_up_tasks()
    rss_before = _proc_status_mb("VmRSS") or 0.0
    cpu_before = cpu_seconds()
    timings: dict[str, float] = {}

    started = time.perf_counter()
    with ExitStack() as stack:
        files = [(path.name, stack.enter_context(path.open("rb"))) for path in paths]
        batch = services.create_bundle(user=user, files=files)
    timings["upload"] = time.perf_counter() - started

    mark = time.perf_counter()
    batch = services.check_batch(batch.pk)
    timings["check"] = time.perf_counter() - mark

    mark = time.perf_counter()
    if batch.status == ImportBatch.Status.VALIDATED and not batch.rejected:
        # With no broker, confirm_batch runs the import task right after its commit;
        # import_batch then finds the batch done and returns it (as import_file does).
        services.confirm_batch(user=user, batch=batch, valid_rows_only=False)
        batch = services.import_batch(batch.pk)
    timings["write"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    timings["cpu"] = cpu_seconds() - cpu_before
    timings["follow_up"] = follow_up["seconds"]
    peak = peak_rss_mb()

    # Checked after the clock stopped.
    batch.refresh_from_db()
    is_large = getattr(bulk, "is_large", None)
    return {
        "timings": timings,
        "status": batch.status,
        "error": batch.error,
        "counts": {
            "rows": batch.total_rows,
            "created": batch.created,
            "updated": batch.updated,
            "unchanged": batch.unchanged,
            "rejected": batch.rejected,
        },
        "issues": [f"{i.sheet} {i.row} {i.column}: {i.message}" for i in batch.issues.all()[:5]],
        "audit_events": AuditEvent.objects.filter(batch=batch.reference).count(),
        "path": ("staged" if is_large(batch) else "in-memory") if is_large else "?",
        "peak_mb": peak,
        "rss_before_mb": rss_before,
    }


def _first_rows(paths: list[Path], kind: str, limit: int) -> list[dict[str, Any]]:
    """The first `limit` rows of one kind, as {column key: cell}."""
    from exchange.columns import HEADER_INDEX, SHEETS, header_key

    def keyed(rows: Iterator[Any]) -> list[dict[str, Any]]:
        keys = [HEADER_INDEX[kind].get(header_key(cell or "")) for cell in next(rows)]
        taken = []
        for cells in rows:
            if len(taken) >= limit:
                break
            taken.append({key: value for key, value in zip(keys, cells, strict=False) if key})
        return taken

    if paths[0].suffix == ".xlsx":
        from openpyxl import load_workbook

        book = load_workbook(paths[0], read_only=True, data_only=True)
        try:
            return keyed(book[SHEETS[kind].title].iter_rows(values_only=True))
        finally:
            book.close()
    path = paths[0] if kind == "households" else paths[1]
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return keyed(csv.reader(handle))


def run_baseline(config: dict[str, Any]) -> dict[str, Any]:
    """The first rows of the list through django-import-export's default ModelResource.

    The default resource knows nothing of our format, so before the clock starts
    each row is turned into the model's own values with our parsers: commune code
    -> commune id, village name -> village id (villages created beforehand),
    Có/Không -> 1/0, labels -> choice values, dates -> ISO, ethnic group -> id;
    members get their household's id after the households are in. What is timed
    is `import_data(dataset, dry_run=False, use_transactions=True)` on the
    households, then on their members, with the resource's defaults: per row a
    savepoint, a query per foreign key, save(), and the diff it keeps for its
    report. Nothing else: no format, no checks beyond the database's own
    constraints, no derived columns, no audit trail. Everything is rolled back
    afterwards so that our import starts from the same empty register; that
    skips one COMMIT, milliseconds.
    """
    import tablib
    from django.db import transaction
    from import_export.resources import modelresource_factory

    from core.text import fold, nfc
    from exchange import values as parse
    from geo.models import AdminUnit
    from households.models import Ethnicity, Household, Member, Village

    paths = [Path(path) for path in config["paths"]]
    limit = config["rows"]
    households = _first_rows(paths, "households", limit)
    members = _first_rows(paths, "members", limit)
    # The first households whose members are all among the first rows, `limit` rows in all.
    by_household: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for member in members:
        by_household.setdefault((member["ma_xa"], member["ma_ho"]), []).append(member)
    household_rows: list[dict[str, Any]] = []
    member_rows: list[dict[str, Any]] = []
    for household in households:
        people = by_household.get((household["ma_xa"], household["ma_ho"]), [])
        if len(household_rows) + len(member_rows) + 1 + len(people) > limit:
            break
        household_rows.append(household)
        member_rows.extend(people)

    communes = {
        u.code: u
        for u in AdminUnit.objects.filter(edition=EDITION, level=AdminUnit.Level.COMMUNE, province__code=PROVINCE_CODE)
    }
    ethnicities = {e.name: e.pk for e in Ethnicity.objects.all()}

    def flag(value: Any) -> str:
        return "1" if parse.parse_yes_no(value) else "0"

    with transaction.atomic():
        villages: dict[tuple[str, str], int] = {}
        for row in household_rows:
            key = (row["ma_xa"], fold(row["thon"]))
            if key not in villages:
                village, _created = Village.objects.get_or_create(
                    commune=communes[row["ma_xa"]], search_name=key[1], defaults={"name": nfc(row["thon"])}
                )
                villages[key] = village.pk
        household_data = tablib.Dataset(
            headers=[
                "commune",
                "village",
                "code",
                "head_name",
                "area",
                "is_farm",
                "phone",
                "classification",
                "classification_year",
                "has_meritorious_member",
                "is_social_protection",
            ]
        )
        for row in household_rows:
            household_data.append(
                [
                    communes[row["ma_xa"]].pk,
                    villages[(row["ma_xa"], fold(row["thon"]))],
                    row["ma_ho"],
                    row["chu_ho"],
                    parse.parse_area(row["khu_vuc"]),
                    flag(row["nong_nghiep"]),
                    row["dien_thoai"] or "",
                    parse.parse_classification(row["phan_loai"]),
                    row["nam_phan_loai"] or "",
                    flag(row["nguoi_co_cong"]),
                    flag(row["bao_tro_xa_hoi"]),
                ]
            )
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        household_result = modelresource_factory(Household)().import_data(
            household_data, dry_run=False, use_transactions=True
        )
        household_seconds = time.perf_counter() - started
        household_cpu = cpu_seconds() - cpu_before

        ids = {
            (commune_code, code): pk
            for pk, commune_code, code in Household.objects.filter(
                commune__in=list(communes.values()),
                code__in={r["ma_ho"] for r in household_rows},
            ).values_list("pk", "commune__code", "code")
        }
        member_data = tablib.Dataset(
            headers=[
                "household",
                "full_name",
                "sex",
                "birth_date",
                "birth_year",
                "personal_id",
                "ethnicity",
                "relation",
                "has_health_insurance",
            ]
        )
        for row in member_rows:
            birth_date, birth_year = parse.parse_date_or_year(row["ngay_sinh"])
            member_data.append(
                [
                    ids.get((row["ma_xa"], row["ma_ho"]), ""),
                    row["ho_ten"],
                    parse.parse_sex(row["gioi_tinh"]),
                    birth_date.isoformat() if birth_date else "",
                    birth_year,
                    row["so_dinh_danh"] or "",
                    ethnicities[row["dan_toc"]],
                    parse.parse_relation(row["quan_he"]),
                    flag(row["bhyt"]),
                ]
            )
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        member_result = modelresource_factory(Member)().import_data(member_data, dry_run=False, use_transactions=True)
        member_seconds = time.perf_counter() - started
        member_cpu = cpu_seconds() - cpu_before
        peak = peak_rss_mb()
        written = (
            Household.objects.filter(pk__in=ids.values()).count()
            + Member.objects.filter(household_id__in=ids.values()).count()
        )
        transaction.set_rollback(True)

    errors = [
        str(error.error)
        for _number, row_errors in household_result.row_errors() + member_result.row_errors()
        for error in row_errors
    ]
    return {
        "households": len(household_rows),
        "members": len(member_rows),
        "written": written,
        "errors": errors[:5],
        "invalid": len(household_result.invalid_rows) + len(member_result.invalid_rows),
        "timings": {
            "households": household_seconds,
            "members": member_seconds,
            "total": household_seconds + member_seconds,
            "cpu": household_cpu + member_cpu,
        },
        "peak_mb": peak,
    }


def child_main(role: str, config: dict[str, Any]) -> None:
    setup_django(config["environment"])
    if config.get("profile") and role == "ours":
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(run_ours, config)
        profiler.dump_stats(config["profile"])
        stats = pstats.Stats(profiler, stream=sys.stderr).strip_dirs()
        print("\n--- profile: by cumulative time ---", file=sys.stderr)
        stats.sort_stats("cumulative").print_stats(40)
        print("--- profile: by own time ---", file=sys.stderr)
        stats.sort_stats("tottime").print_stats(30)
    else:
        result = run_ours(config) if role == "ours" else run_baseline(config)
    print(RESULT_MARK + json.dumps(result), flush=True)


def run_child(role: str, config: dict[str, Any]) -> dict[str, Any]:
    """One measured import in a fresh interpreter; its stderr passes through."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", role, "--child-config", json.dumps(config)]
    # Our own interpreter running this very file: no outside input in the command.
    completed = subprocess.run(command, cwd=PROJECT, stdout=subprocess.PIPE, text=True, check=False)  # noqa: S603
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if completed.returncode != 0 or not lines:
        print(completed.stdout, file=sys.stderr)
        raise SystemExit(f"the {role} import failed (exit {completed.returncode}); see its output above")
    return json.loads(lines[-1][len(RESULT_MARK) :])


# -- the report -------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor()
    memory = "?"
    with contextlib.suppress(OSError, StopIteration):  # not Linux: keep what platform says
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    with contextlib.suppress(OSError, StopIteration):
        kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
        memory = f"{kb / 2**20:.1f} GB"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # Other work on the machine slows both imports; the load says how busy it was.
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return {
        "cpus": str(usable),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
        "load": load,
    }


def versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {name: version(name) for name in ("Django", "django-import-export", "openpyxl", "psycopg")}
    # BENCH_COMMIT names the code measured when it is not a git checkout (an export of a commit).
    commit = os.environ.get("BENCH_COMMIT", "")
    git = shutil.which("git")
    if not commit and git:
        try:
            commit = subprocess.run(  # noqa: S603
                [git, "rev-parse", "--short", "HEAD"],
                cwd=PROJECT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            dirty = subprocess.run(  # noqa: S603
                [git, "status", "--porcelain", "--untracked-files=no"],
                cwd=PROJECT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            commit += " + uncommitted changes" if dirty else ""
        except (OSError, subprocess.CalledProcessError):
            commit = ""
    found["commit"] = commit or "?"
    return found


@dataclass
class Report:
    info: ListInfo
    database: Database
    server: str
    ours: dict[str, Any]
    baseline: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    def show(self) -> None:
        ours_time = self.ours["timings"]["total"]
        ours_rate = self.info.rows / ours_time
        base_rate = ratio = None
        rows = [
            ("households", f"{self.info.households:,}"),
            ("members", f"{self.info.members:,}"),
            ("rows (households + members)", f"{self.info.rows:,}"),
            (
                "list",
                f"{self.info.format.upper()}, {len(self.info.paths)} file(s), "
                f"{self.info.bytes / 2**20:.1f} MB (generated in {self.info.seconds:.0f} s)",
            ),
        ]
        if self.baseline:
            base = self.baseline
            base_rate = (base["households"] + base["members"]) / base["timings"]["total"]
            ratio = ours_rate / base_rate
            rows.append(
                (
                    "baseline rows/s",
                    f"{base_rate:,.0f}  ({base['households']:,} + {base['members']:,} rows "
                    f"in {base['timings']['total']:.1f} s, CPU {base['timings']['cpu']:.1f} s;"
                    f" peak {base['peak_mb']:.0f} MB)",
                )
            )
        else:
            rows.append(("baseline rows/s", "skipped (--baseline-rows 0)"))
        timings = self.ours["timings"]
        follow_up = timings.get("follow_up", 0.0)
        import_rate = self.info.rows / (ours_time - follow_up)
        import_ratio = import_rate / base_rate if base_rate else None
        rows += [
            (
                "ours rows/s (end to end)",
                f"{ours_rate:,.0f}  ({ours_time:.1f} s, CPU {timings['cpu']:.1f} s; {self.ours['path']} path)",
            ),
            ("  upload / check / write", " / ".join(f"{timings[k]:.1f} s" for k in ("upload", "check", "write"))),
            ("  of which follow-up tasks", f"{follow_up:.1f} s (summaries, rollups: a worker's job with a broker)"),
            ("ours rows/s without them", f"{import_rate:,.0f}  (parse, check, write, audit, commit)"),
            ("ratio ours / baseline", f"{ratio:.1f}x" if ratio else "n/a"),
            ("ratio without follow-up", f"{import_ratio:.1f}x" if import_ratio else "n/a"),
            (
                "peak memory (ours)",
                f"{self.ours['peak_mb']:.0f} MB VmHWM ({self.ours['rss_before_mb']:.0f} MB after Django start-up)",
            ),
            ("database", f"{self.server} ({self.database.label})"),
        ]
        info = machine()
        rows += [
            ("machine", f"{info['cpus']} CPUs ({info['cpu']}), {info['memory']} RAM, {info['os']}"),
            ("load average 1/5/15 min", info["load"]),
            ("software", f"Python {info['python']}, " + ", ".join(f"{k} {v}" for k, v in versions().items())),
        ]
        width = max(len(label) for label, _value in rows)
        print()
        for label, value in rows:
            print(f"{label.ljust(width)}  {value}")
        print()
        at_goal_size = self.info.households >= GOAL_HOUSEHOLDS
        for label, met in [
            (f"end to end >= {GOAL_ROWS_PER_S:,} rows/s", ours_rate >= GOAL_ROWS_PER_S),
            (f"end to end >= {GOAL_ROWS_PER_S:,} rows/s without follow-up tasks", import_rate >= GOAL_ROWS_PER_S),
            (f"ratio >= {GOAL_RATIO}x", ratio is not None and ratio >= GOAL_RATIO),
            (
                f"ratio >= {GOAL_RATIO}x without follow-up tasks",
                import_ratio is not None and import_ratio >= GOAL_RATIO,
            ),
            (
                f"peak < {GOAL_PEAK_MB} MB"
                + ("" if at_goal_size else f" (the goal is set at {GOAL_HOUSEHOLDS:,} households)"),
                self.ours["peak_mb"] < GOAL_PEAK_MB,
            ),
        ]:
            print(f"goal {label}: {'met' if met else 'NOT met'}")
        for note in self.notes:
            print(f"note: {note}")


# -- main ------------------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=2_000, help="households in the list (default 2000)")
    parser.add_argument(
        "--members-per-household",
        type=int,
        default=4,
        help="mean members per household; the total is exactly N times this (default 4)",
    )
    parser.add_argument(
        "--format", choices=("csv", "xlsx"), default="csv", help="two UTF-8 CSV files (default) or one XLSX workbook"
    )
    parser.add_argument(
        "--database-url",
        help="run on this database (also BENCH_DATABASE_URL); it is migrated, "
        "never dropped. Default: a throwaway PostgreSQL database, else SQLite",
    )
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=5_000,
        help="rows (households + their members) the baseline imports; 0 skips it (default 5000)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the throwaway database and the generated list")
    parser.add_argument("--seed", type=int, default=2025, help="random seed of the synthetic province")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="profile our import with cProfile, save the stats to FILE and print the top entries "
        "(profiled times are inflated; do not record them)",
    )
    parser.add_argument("--child", choices=("ours", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--child-config", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.households < 1 or arguments.members_per_household < 1 or arguments.baseline_rows < 0:
        parser.error("--households and --members-per-household must be at least 1, --baseline-rows at least 0")
    return arguments


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    if arguments.child:
        child_main(arguments.child, json.loads(arguments.child_config))
        return

    database = choose_database(arguments.database_url)
    if database.note:
        log(database.note)
    log(f"database: {database.label}")
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    environment = child_environment(database.url, str(work / "media"))
    setup_django(environment)
    from django.db import connections

    try:
        log("migrating, loading the 2021 map, creating the province administrator")
        facts = prepare_database()
        notes = [database.note] if database.note else []
        if facts["existing_households"]:
            notes.append(
                f"the database already held {facts['existing_households']:,} households of Lào Cai: "
                "rows the list shares with it are updates or unchanged, not creations"
            )

        log(f"writing {arguments.households:,} households of {facts['province']} as {arguments.format.upper()}")
        info = write_province(
            work, arguments.format, arguments.households, arguments.members_per_household, arguments.seed
        )
        log(
            f"list: {info.households:,} households, {info.members:,} members, "
            f"{info.bytes / 2**20:.1f} MB in {info.seconds:.0f} s"
        )
        connections.close_all()  # the children open their own; hold nothing open meanwhile

        baseline = None
        if arguments.baseline_rows:
            log(f"baseline: django-import-export's default resource, first {arguments.baseline_rows:,} rows")
            baseline = run_child(
                "baseline", {"environment": environment, "paths": info.paths, "rows": arguments.baseline_rows}
            )
            if baseline["errors"] or baseline["invalid"]:
                notes.append(
                    f"the baseline reported errors: {baseline['errors'][:2]} ({baseline['invalid']} invalid rows)"
                )
        log("ours: exchange.services create_bundle -> check_batch -> confirm_batch -> import_batch")
        ours = run_child(
            "ours",
            {"environment": environment, "paths": info.paths, "user": PROVINCE_USER, "profile": arguments.profile},
        )
        counts = ours["counts"]
        if ours["status"] != "done" or counts["created"] != info.rows:
            notes.append(
                f"our import did not create every row: status {ours['status']}, {counts}, "
                f"{ours['error']} {ours['issues']}"
            )
        elif ours["audit_events"] != info.rows:
            notes.append(f"{ours['audit_events']:,} audit events for {info.rows:,} created rows")
        if arguments.profile:
            notes.append("profiled run: cProfile inflates our time; do not record these figures")
        Report(info, database, facts["server"], ours, baseline, notes).show()
    finally:
        connections.close_all()
        if arguments.keep:
            log(f"kept: database {database.url} and the list in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            drop_database(database)


if __name__ == "__main__":
    main()
