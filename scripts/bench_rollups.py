#!/usr/bin/env python
"""Rollup benchmark: full recompute, one commune, and the pages that read the figures, at size.

    python scripts/bench_rollups.py [--households N] [--members-per-household 4] [--database-url URL] [--keep]
        [--dashboard-url URL] [--report-url URL]

One run:

1. creates a throwaway PostgreSQL database `bench_rollups` on 127.0.0.1:5432 (or uses
   --database-url / BENCH_DATABASE_URL as given, migrated, never dropped), migrates it
   and loads the 2021 map;
2. seeds N synthetic households over Lào Cai's communes with COPY: villages, members,
   a decided periodic round per commune for each of the two years before this one
   (an official status per household each year, a surveyed Phiếu B per household in
   the later one) and an open round this year;
3. times `reports.compute.recompute_all` (the full recompute, every commune and the
   units above, with the next standard's effect) and `recompute_commune` of the largest
   commune;
4. times requests rendered through Django's test Client as the province administrator:
   the household list filtered, searched without diacritics, and on a deep page; the
   overview; the dashboard of the province, a district and the commune, and forms 7.2
   (page and Excel) and 7.9 of the province (--dashboard-url / --report-url replace the
   province's dashboard and form 7.2 page);
5. prints the figures, the goals, the machine and its load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

PROVINCE_CODE = "10"  # Lào Cai on the 2021 map
THROWAWAY_DB = "bench_rollups"
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
GOALS = {"full": 60.0, "commune": 1.0, "dashboard": 0.200, "list": 0.300}
_STARTED = time.monotonic()

FAMILY = ["Giàng", "Sùng", "Vàng", "Lý", "Thào", "Hoàng", "Lù", "Tẩn", "Nguyễn", "Trần", "Lồ", "Ma"]
MIDDLE = ["A", "Seo", "Thị", "Văn", "Láo", "Mí", "Chín"]
CAUSES = ["no_capital", "no_land", "no_labour", "no_know_how", "no_skills", "illness", "no_tools", "other"]
GIVEN = ["Páo", "Sử", "Dế", "Chứ", "Mai", "Lan", "Phù", "Sính", "Cở", "Hoa", "Dung", "Chản", "Pin", "Tủa"]


def log(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def create_database() -> str:
    import psycopg

    admin_url = os.environ.get("BENCH_PG_ADMIN_URL", PG_ADMIN_URL)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{THROWAWAY_DB}"')
        conn.execute(f"CREATE DATABASE \"{THROWAWAY_DB}\" ENCODING 'UTF8' TEMPLATE template0")
    return _with_database(admin_url, THROWAWAY_DB)


def drop_database() -> None:
    import psycopg

    admin_url = os.environ.get("BENCH_PG_ADMIN_URL", PG_ADMIN_URL)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{THROWAWAY_DB}"')


def setup_django(database_url: str) -> None:
    os.environ.update({"DJANGO_SETTINGS_MODULE": "config.settings.development", "DATABASE_URL": database_url,
                       "DEBUG": "False", "CELERY_BROKER_URL": ""})
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    from config.celery import app

    app.conf.task_always_eager = True


# -- seeding -------------------------------------------------------------------------------------


def _copy(table: str, columns: list[str], rows) -> int:
    """COPY rows (tuples) into a table in one stream; returns the count."""
    from django.db import connection

    count = 0
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _reset_sequence(table: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - our table names
                       f"COALESCE((SELECT MAX(id) FROM {table}), 1))")


def seeded() -> dict | None:
    """What an earlier run with --keep left in the database, or None when it holds no seeded data."""
    from django.core.management import call_command
    from django.db.models import Count

    from core.models import User
    from geo.models import AdminUnit
    from households.models import Household

    call_command("migrate", verbosity=0, interactive=False)
    user = User.objects.filter(username="bench_tinh").first()
    if user is None or not Household.objects.exists():
        return None
    from django.utils import timezone

    communes = AdminUnit.objects.filter(province=user.unit, level=AdminUnit.Level.COMMUNE)
    largest = communes.annotate(n=Count("households")).order_by("-n").first()
    return {"user": user, "year": timezone.localdate().year - 1, "commune": largest, "communes": communes.count()}


def seed(households: int, members_per: int) -> dict:
    import json

    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from core.models import User
    from core.text import fold
    from geo.models import AdminUnit
    from geo.services import load_admin_units
    from households.models import Ethnicity, Village
    from households.reference import load_ethnicities
    from reviews.models import Indicator, PovertyStandard
    from reviews.services import standard_for
    from reviews.standards import load_standards

    call_command("migrate", verbosity=0, interactive=False)
    load_admin_units(2021)
    load_ethnicities(Ethnicity)
    load_standards(PovertyStandard, Indicator)
    province = AdminUnit.objects.get(edition=2021, level=AdminUnit.Level.PROVINCE, code=PROVINCE_CODE)
    communes = list(AdminUnit.objects.filter(province=province, level=AdminUnit.Level.COMMUNE).order_by("code"))
    user = User.objects.create_user("bench_tinh", password=None, role="province_admin", unit=province)
    ethnicities = list(Ethnicity.objects.values_list("pk", "is_minority"))
    kinh = next(pk for pk, minority in ethnicities if not minority)
    minorities = [pk for pk, minority in ethnicities if minority][:8]
    this_year = timezone.localdate().year
    years = (this_year - 2, this_year - 1)
    standards = {y: standard_for(y, communes[0]) for y in (*years, this_year)}
    indicators = {y: list(s.indicators.order_by("number").values_list("code", flat=True))
                  for y, s in standards.items()}
    rng = random.Random(20260101)
    now = timezone.now()

    with transaction.atomic():
        Village.objects.bulk_create([Village(commune=c, name=f"Thôn {i + 1}", search_name=fold(f"Thôn {i + 1}"))
                                     for c in communes for i in range(5)])
        villages = {}
        for pk, commune_id in Village.objects.values_list("pk", "commune_id"):
            villages.setdefault(commune_id, []).append(pk)
        rounds = {}
        from reviews.models import ReviewRound

        for year in (*years, this_year):
            decided = year != this_year
            objs = [ReviewRound(commune=c, year=year, standard=standards[year], opened_by=user,
                                status=ReviewRound.Status.DECIDED if decided else ReviewRound.Status.OPEN,
                                decision_number=f"{year}/QĐ" if decided else "",
                                decision_date=date(year, 12, 10) if decided else None) for c in communes]
            for r in ReviewRound.objects.bulk_create(objs):
                rounds[(r.commune_id, year)] = r.pk
        log(f"{len(communes)} communes, {len(villages) * 5} villages, {len(rounds)} rounds")

        # Households: explicit ids 1..N so members, surveys and statuses can refer to them in the same pass.
        plan = []  # (id, commune_id, area, member_count, minority, income, deprived)
        survey_rows, status_rows = [], []
        for hid in range(1, households + 1):
            commune = communes[hid % len(communes)]
            area = "urban" if commune.is_urban else "rural"
            size = max(1, min(9, int(rng.gauss(members_per, 1.3))))
            minority = rng.random() < 0.8
            income = rng.choice(range(600_000, 3_600_000, 50_000))
            deprived = [code for code in indicators[years[1]] if rng.random() < 0.3]
            plan.append((hid, commune.pk, area, size, minority, income, deprived))
        log(f"planned {households} households")

        def households_rows():
            for hid, commune_id, area, size, minority, _income, _deprived in plan:
                family, given = rng.choice(FAMILY), rng.choice(GIVEN)
                head = f"{family} {rng.choice(MIDDLE)} {given}"
                code = f"{hid:07d}"
                yield (hid, commune_id, rng.choice(villages[commune_id]), code, head, area, True, "",
                       rng.random() < 0.03, rng.random() < 0.05, "none", None, minority, size,
                       f"{code} {fold(head)}", 1, now, now, False, "")

        _copy("households_household",
              ["id", "commune_id", "village_id", "code", "head_name", "area", "is_farm", "phone",
               "has_meritorious_member", "is_social_protection", "classification", "classification_year",
               "is_ethnic_minority", "member_count", "search_text", "version", "created_at", "updated_at",
               "is_archived", "archived_reason"], households_rows())
        log("households copied")

        def members_rows():
            mid = 0
            for hid, _c, _a, size, minority, _i, _d in plan:
                group = rng.choice(minorities) if minority else kinh
                family = rng.choice(FAMILY)
                for index in range(size):
                    mid += 1
                    name = f"{family} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
                    yield (mid, hid, name, fold(name), "male" if index % 2 == 0 else "female",
                           1950 + rng.randrange(70), "", False, group, "head" if index == 0 else "child",
                           True, now, now, False, "")

        count = _copy("households_member",
                      ["id", "household_id", "full_name", "search_name", "sex", "birth_year", "personal_id",
                       "personal_id_is_legacy", "ethnicity_id", "relation", "has_health_insurance", "created_at",
                       "updated_at", "is_archived", "archived_reason"], members_rows())
        log(f"{count} members copied")

        from reviews.classification import Rules, classify

        rules = Rules.from_standard(standards[years[1]])
        first_year, second_year = years
        sid = 0

        def surveys_and_statuses():
            nonlocal sid
            for hid, commune_id, area, _size, _m, income, deprived in plan:
                answers = {code: code in deprived for code in rules.indicators}
                category = classify(rules, area=area, deprivations=answers, income=income).category
                first = category if rng.random() < 0.8 else rng.choice(["poor", "near_poor", "none"])
                sid += 1
                survey_rows.append((sid, rounds[(commune_id, second_year)], hid, "current", first, "surveyed",
                                    "{}", income, None, True, json.dumps(answers), "", category,
                                    len(deprived), json.dumps(deprived), 0, "", rules.code, now, None, "", 1,
                                    json.dumps([rng.choice(CAUSES)] if category in ("poor", "near_poor") else [])))
                from reviews.services import movement

                status_rows.append((hid, first_year, first, "none", "unchanged" if first == "none" else (
                    "newly_poor" if first == "poor" else "newly_near"), rounds[(commune_id, first_year)], None,
                    rules.code, date(first_year, 12, 10)))
                status_rows.append((hid, second_year, category, first,
                                    movement(first, category, was_poor_before=first == "poor"),
                                    rounds[(commune_id, second_year)], sid, rules.code, date(second_year, 12, 10)))
                if len(status_rows) >= 20000:
                    yield

        survey_columns = ["id", "round_id", "household_id", "origin", "previous_category", "status", "screening",
                          "income", "score_a", "is_farm", "deprivations", "demographic_change", "category",
                          "deprivation_count", "deprived", "income_gap", "explanation", "standard_code",
                          "surveyed_at", "surveyed_by_id", "reviewer_comment", "version", "causes"]
        status_columns = ["household_id", "year", "category", "previous_category", "movement", "round_id",
                          "survey_id", "standard_code", "decided_on"]

        def flush():
            _copy("reviews_survey", survey_columns, survey_rows)
            _copy("reviews_householdstatus", status_columns, status_rows)
            survey_rows.clear()
            status_rows.clear()

        for _ in surveys_and_statuses():
            flush()
        flush()
        log(f"{households} surveys and {2 * households} statuses copied")
        # The register follows the last decision.
        with connection.cursor() as cursor:
            cursor.execute("""UPDATE households_household h SET classification = s.category,
                              classification_year = s.year FROM reviews_householdstatus s
                              WHERE s.household_id = h.id AND s.year = %s""", [second_year])
        for table in ("households_household", "households_member", "reviews_survey", "reviews_householdstatus"):
            _reset_sequence(table)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    log("seeded and analysed")
    sizes = Counter(p[1] for p in plan)
    largest = max(communes, key=lambda c: sizes[c.pk])
    return {"user": user, "year": years[1], "commune": largest, "communes": len(communes)}


# -- measuring -----------------------------------------------------------------------------------


def timed(function, *args, **kwargs) -> float:
    started = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - started


def page_time(client, url: str, runs: int = 3) -> tuple[float, int]:
    client.get(url)  # warm-up
    times, status = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        status = response.status_code
    return statistics.median(times), status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--members-per-household", type=int, default=4)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the throwaway database")
    parser.add_argument("--reuse", action="store_true",
                        help="with --database-url: measure what an earlier --keep run seeded there, without seeding")
    parser.add_argument("--dashboard-url")
    parser.add_argument("--report-url")
    args = parser.parse_args()

    throwaway = not args.database_url
    url = args.database_url or create_database()
    try:
        setup_django(url)
        seeded_started = time.monotonic()
        info = (seeded() if args.reuse else None) or seed(args.households, args.members_per_household)
        seed_seconds = time.monotonic() - seeded_started
        from django.test import Client

        from reports import compute

        year = info["year"]
        full = timed(compute.recompute_all, year)
        full_again = timed(compute.recompute_all, year)
        one = timed(compute.recompute_commune, info["commune"].pk, year)
        client = Client()
        client.force_login(info["user"])
        commune = info["commune"]
        from core.pagination import encode_cursor
        from households.models import Household

        in_commune = Household.objects.filter(commune=commune).count()
        deep = max(1, in_commune // 25 - 1)

        def cursor_before(page: int, **where) -> str:
            """The cursor a user holds on reaching `page` by "Next": the key of the row before it."""
            key = (Household.objects.filter(is_archived=False, **where).order_by("commune_id", "code")
                   .values_list("commune_id", "code")[(page - 1) * 25 - 1])
            return encode_cursor(list(key))

        province_deep = cursor_before(2000, commune__province=info["user"].unit)
        commune_deep = cursor_before(deep, commune=commune)
        pages = {
            "household list, filtered (commune, poor)": f"/households/?commune={commune.pk}&classification=poor",
            "household list, searched without diacritics": "/households/?q=giang+a+pao",
            f"household list, deep page ({deep} of the commune)":
                f"/households/?commune={commune.pk}&after={commune_deep}&n={deep}",
            "household list, deep page (page 2000 of the province)": f"/households/?after={province_deep}&n=2000",
            "household list, last page of the province": "/households/?last=1",
            "household list, first page of the province": "/households/",
            "overview (/)": "/",
        }
        from django.urls import reverse

        province = info["user"].unit

        def figures(name: str, unit, **extra) -> str:
            return reverse(name, kwargs={"unit": unit.pk, "year": year, **extra})

        pages.update({
            "dashboard, province": args.dashboard_url or figures("reports:dashboard", province),
            "dashboard, district": figures("reports:dashboard", commune.parent),
            "dashboard, commune": figures("reports:dashboard", commune),
            "report 7.2, province (page)": args.report_url or figures("reports:report", province, form="7.2"),
            "report 7.2, province (xlsx)": figures("reports:report", province, form="7.2") + "?format=xlsx",
            "report 7.9, province (page)": figures("reports:report", province, form="7.9"),
        })
        results = {label: page_time(client, page) for label, page in pages.items()}
    finally:
        if throwaway and not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database()

    load = os.getloadavg()
    print(f"Rollup benchmark: {args.households:,} households ({args.members_per_household} members on average), "
          f"{info['communes']} communes of Lào Cai, PostgreSQL")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"seeding (COPY): {seed_seconds:.1f} s")
    print(f"full recompute, year {year}: {full:.2f} s (again: {full_again:.2f} s) — goal ≤ {GOALS['full']:.0f} s")
    print(f"one commune ({commune.name}, {in_commune:,} households): {one * 1000:.0f} ms — goal ≤ "
          f"{GOALS['commune'] * 1000:.0f} ms")
    for label, (seconds, status) in results.items():
        print(f"{label}: {seconds * 1000:.0f} ms (HTTP {status})")
    print(f"goals: dashboard ≤ {GOALS['dashboard'] * 1000:.0f} ms, household list ≤ {GOALS['list'] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

