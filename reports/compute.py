"""Rollups computed from the source rows, set-based.

One pass classifies every household of the scope (one commune, or all of them)
into a temporary table — its official category in the year and the year before,
its preliminary category, the surveys behind them, its last exit from the lists —
with window functions in SQL. A few GROUP BY queries over that table then give
every figure of every commune at once; Python only assembles the rows per
commune and sums communes into the units above them. Nothing loops over
households in Python except the next standard's effect, which must call the
pure `reviews.classification.classify` and does so in bounded batches, with
identical facts classified once.

Concurrency: a commune's rows are written in one transaction holding that
commune's lock (a PostgreSQL advisory lock), and a parent's rows under the
parent's lock after reading its communes' committed rows, so two runs at once
serialise and the second writes the same numbers again. A full run holds the
exclusive form of a global lock that commune runs take shared, so it never
interleaves with them. Every run overwrites; nothing is ever added to a stored
figure, so running twice changes nothing.
"""

# ruff: noqa: S608 - the SQL is assembled from this module's constants and column names; values are parameters.
from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from geo.models import AdminUnit
from households.models import Household
from reviews.classification import RURAL, URBAN, InvalidSurvey, Rules, classify
from reviews.models import Category, HouseholdStatus, PovertyStandard, ReviewRound, Survey
from reviews.services import NEWLY_ESCAPED_YEARS

from .models import BREAKDOWNS, FIGURES, DirtyCommune, Rollup, StandardEffect

OFFICIAL, PRELIMINARY = Rollup.Stage.OFFICIAL, Rollup.Stage.PRELIMINARY
ON_LISTS = (Category.POOR.value, Category.NEAR_POOR.value)
# The first year of the next standard (Decree 351/2025: 2027–2030).
NEXT_STANDARD_YEAR = 2027
# Advisory-lock namespaces (the first key of pg_advisory_xact_lock(int, int)).
LOCK_UNIT = 7201
LOCK_ALL = 7202
TEMP_TABLE = "reports_rollup_households"
BATCH = 5000

# Movements of form 7.2/7.3 counted as a decrease or an increase of a list.
CELL_KEYS = ("households", "persons", "urban_households", "urban_persons")


# --- locks -------------------------------------------------------------------------


def _lock_unit(unit_id: int) -> None:
    """Serialise writers of one unit's rows until the transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_UNIT, unit_id])
    else:  # SQLite serialises writers itself; the row lock documents the intent elsewhere
        list(AdminUnit.objects.select_for_update().filter(pk=unit_id).values_list("pk"))


def _lock_all(shared: bool) -> None:
    if connection.vendor == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {function}(%s, %s)", [LOCK_ALL, 0])


# --- the per-household table ---------------------------------------------------------


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def newly_escaped_on(year: int) -> date:
    """The day "newly escaped" is judged on for a year's figures: its last day, or today."""
    return min(date(year, 12, 31), timezone.localdate())


def _since(on: date) -> date:
    try:
        return on.replace(year=on.year - NEWLY_ESCAPED_YEARS)
    except ValueError:  # 29 February
        return on.replace(year=on.year - NEWLY_ESCAPED_YEARS, day=28)


def _latest(alias: str, where: str) -> str:
    """The latest status per household among the scope's statuses (`st`) matching `where`, as a derived table."""
    return f"""(
        SELECT household_id, category, survey_id FROM (
            SELECT s.household_id, s.category, s.survey_id,
                   ROW_NUMBER() OVER (PARTITION BY s.household_id
                                      ORDER BY s.year DESC, s.decided_on DESC, s.id DESC) AS rn
            FROM st s WHERE {where}
        ) ranked WHERE rn = 1
    ) {alias}"""


def _build_table(year: int, communes: Iterable[int] | None) -> None:
    """Classify every household of the scope into TEMP_TABLE (one row per household).

    The scope's statuses up to the year (`st`) are read once for one commune
    (MATERIALIZED: one index walk over its households, then five small scans)
    and left for the planner to inline for all communes, where each derived
    table is best a scan of its own.
    """
    ops = connection.ops
    on = newly_escaped_on(year)
    params = {
        "year": year,
        "prev": year - 1,
        "periodic": ReviewRound.Kind.PERIODIC,
        "start": ops.adapt_datetimefield_value(_aware(date(year, 1, 1))),
        "end": ops.adapt_datetimefield_value(_aware(date(year + 1, 1, 1))),
        "on": ops.adapt_datefield_value(on),
        "poor": Category.POOR,
        "near": Category.NEAR_POOR,
        "surveyed": Survey.Status.SURVEYED,
        "screened": Survey.Status.SCREENED_OUT,
        "urban": Household.Area.URBAN,
    }
    # The scope: some communes (their ids are integers from our own tables), or every commune.
    ids = ", ".join(str(int(c)) for c in sorted(set(communes))) if communes is not None else ""
    if communes is not None and not ids:
        ids = "NULL"
    scoped = communes is not None
    scope_h = f"AND h.commune_id IN ({ids})" if scoped else ""
    in_scope = (f"JOIN households_household hh ON hh.id = s.household_id AND hh.commune_id IN ({ids})"
                if scoped else "")
    materialized = "MATERIALIZED" if scoped else "NOT MATERIALIZED"
    not_this_round = "NOT (s.year = %(year)s AND s.kind = %(periodic)s)"
    exit_ = "s.previous_category IN (%(poor)s, %(near)s) AND s.category NOT IN (%(poor)s, %(near)s)"
    true = "TRUE" if connection.vendor == "postgresql" else "1"
    # A commune's surveys of the year are read through its rounds (the round_id index), not per household.
    rounds = ("SELECT id FROM reviews_reviewround WHERE year = %(year)s AND kind = %(periodic)s"
              + (f" AND commune_id IN ({ids})" if scoped else ""))
    sql = f"""
        CREATE TEMPORARY TABLE {TEMP_TABLE} AS
        WITH st AS {materialized} (
            SELECT s.household_id, s.year, s.decided_on, s.id, s.category, s.previous_category, s.survey_id,
                   r.kind
            FROM reviews_householdstatus s
            JOIN reviews_reviewround r ON r.id = s.round_id
            {in_scope}
            WHERE s.year <= %(year)s
        )
        SELECT h.id AS household_id, h.commune_id AS commune_id, h.member_count AS persons,
               CASE WHEN h.area = %(urban)s THEN 1 ELSE 0 END AS urban,
               CASE WHEN h.is_ethnic_minority THEN 1 ELSE 0 END AS minority,
               CASE WHEN h.has_meritorious_member THEN 1 ELSE 0 END AS meritorious,
               CASE WHEN h.is_social_protection THEN 1 ELSE 0 END AS social_protection,
               CASE WHEN (NOT h.is_archived OR h.archived_at >= %(end)s)
                         AND (h.created_at < %(end)s OR off.household_id IS NOT NULL) THEN 1 ELSE 0 END AS in_year,
               CASE WHEN (NOT h.is_archived OR h.archived_at >= %(start)s)
                         AND (h.created_at < %(start)s OR prev.household_id IS NOT NULL) THEN 1 ELSE 0 END
                   AS in_prev,
               COALESCE(off.category, 'none') AS off_cat, off.survey_id AS off_survey,
               COALESCE(prev.category, 'none') AS prev_cat,
               COALESCE(base.category, 'none') AS base_cat,
               CASE WHEN sv.id IS NOT NULL THEN sv.category ELSE COALESCE(base.category, 'none') END AS pre_cat,
               CASE WHEN sv.id IS NOT NULL THEN sv.id ELSE base.survey_id END AS pre_survey,
               ex.exit_on AS exit_on, bex.exit_on AS base_exit_on,
               CASE WHEN sv.id IS NOT NULL THEN 1 ELSE 0 END AS surveyed,
               COALESCE(sv.demographic_change, '') AS pre_demographic,
               CASE WHEN wp.household_id IS NOT NULL THEN 1 ELSE 0 END AS was_poor
        FROM households_household h
        LEFT JOIN {_latest("off", "s.year <= %(year)s")} ON off.household_id = h.id
        LEFT JOIN {_latest("prev", "s.year <= %(prev)s")} ON prev.household_id = h.id
        LEFT JOIN {_latest("base", not_this_round)} ON base.household_id = h.id
        LEFT JOIN (
            SELECT sv.id, sv.household_id, sv.category, sv.demographic_change FROM reviews_survey sv
            WHERE sv.round_id IN ({rounds}) AND sv.status IN (%(surveyed)s, %(screened)s)
        ) sv ON sv.household_id = h.id
        LEFT JOIN (
            SELECT s.household_id, MAX(s.decided_on) AS exit_on FROM st s
            WHERE s.decided_on <= %(on)s AND {exit_}
            GROUP BY s.household_id
        ) ex ON ex.household_id = h.id
        LEFT JOIN (
            SELECT s.household_id, MAX(s.decided_on) AS exit_on FROM st s
            WHERE s.decided_on <= %(on)s AND {exit_} AND {not_this_round}
            GROUP BY s.household_id
        ) bex ON bex.household_id = h.id
        LEFT JOIN (
            SELECT DISTINCT s.household_id FROM st s WHERE s.category = %(poor)s AND {not_this_round}
        ) wp ON wp.household_id = h.id
        WHERE {true} {scope_h}
    """
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TEMP_TABLE}")
        cursor.execute(sql, params)
        cursor.execute(f"DELETE FROM {TEMP_TABLE} WHERE in_year = 0 AND in_prev = 0")
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {TEMP_TABLE}")


def _drop_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TEMP_TABLE}")


# --- the figures ----------------------------------------------------------------------


def _figure_columns(stage: str, since: date) -> list[tuple[str, str, str]]:
    """(figure, condition, measure) for the integer figures of a stage, over TEMP_TABLE."""
    cat = "off_cat" if stage == OFFICIAL else "pre_cat"
    poor, near, middle = f"{cat} = 'poor'", f"{cat} = 'near_poor'", f"{cat} = 'middle'"
    off_lists = f"{cat} NOT IN ('poor', 'near_poor')"
    if stage == OFFICIAL:
        escaped = f"{off_lists} AND exit_on >= %(since)s"
    else:
        escaped = f"{off_lists} AND (base_cat IN ('poor', 'near_poor') OR base_exit_on >= %(since)s)"
    groups = {"": "1 = 1", "poor_": poor, "near_poor_": near, "middle_": middle}
    columns = []
    for prefix, condition in groups.items():
        columns.append((f"{prefix}households", condition, "1"))
        columns.append((f"{prefix}persons", condition, "persons"))
    for split, flag in (("urban_", "urban = 1"), ("minority_", "minority = 1")):
        for prefix, condition in (("", "1 = 1"), ("poor_", poor), ("near_poor_", near)):
            columns.append((f"{split}{prefix}households", f"{flag} AND {condition}", "1"))
            columns.append((f"{split}{prefix}persons", f"{flag} AND {condition}", "persons"))
    columns.append(("newly_escaped_households", escaped, "1"))
    columns.append(("newly_escaped_persons", escaped, "persons"))
    for group, flag in (("ethnic_minority", "minority = 1"), ("meritorious", "meritorious = 1"),
                        ("social_protection", "social_protection = 1")):
        for prefix, condition in (("poor_", poor), ("near_poor_", near)):
            columns.append((f"tg:{group}:{prefix}households", f"{flag} AND {condition}", "1"))
            columns.append((f"tg:{group}:{prefix}persons", f"{flag} AND {condition}", "persons"))
    # Form 7.2/7.3: the start of the year is last year's official list (over last year's households).
    for key, category in (("poor", "poor"), ("near_poor", "near_poor")):
        for cell, flag in (("households", "1"), ("persons", "persons")):
            for area, cond in (("", "1 = 1"), ("urban_", "urban = 1")):
                columns.append((f"start:{key}:{area}{cell}", f"prev_cat = '{category}' AND {cond}", flag))
    return columns


def _sum_case(condition: str, measure: str, population: str) -> str:
    return f"SUM(CASE WHEN {population} = 1 AND {condition} THEN {measure} ELSE 0 END)"


def _main_figures(stage: str, year: int) -> dict[int, dict]:
    since = _since(newly_escaped_on(year))
    columns = _figure_columns(stage, since)
    select = ", ".join(
        _sum_case(cond, measure, "in_prev" if name.startswith("start:") else "in_year")
        for name, cond, measure in columns
    )
    params = {"since": connection.ops.adapt_datefield_value(since)}
    out: dict[int, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT commune_id, {select} FROM {TEMP_TABLE} GROUP BY commune_id", params)
        for row in cursor.fetchall():
            values = dict(zip((name for name, _c, _m in columns), (int(v or 0) for v in row[1:]), strict=True))
            figures = {name: values[name] for name in FIGURES}
            target_groups: dict = defaultdict(dict)
            movements: dict = {"poor": {"start": {}, "decrease": {}, "increase": {}, "end": {}},
                               "near_poor": {"start": {}, "decrease": {}, "increase": {}, "end": {}}}
            for name, value in values.items():
                if name.startswith("tg:"):
                    _tg, group, figure = name.split(":")
                    target_groups[group][figure] = value
                elif name.startswith("start:"):
                    _s, key, cell = name.split(":")
                    movements[key]["start"][cell] = value
            for key in ("poor", "near_poor"):
                movements[key]["end"] = {
                    "households": figures[f"{key}_households"], "persons": figures[f"{key}_persons"],
                    "urban_households": figures[f"urban_{key}_households"],
                    "urban_persons": figures[f"urban_{key}_persons"],
                }
            figures["target_groups"] = dict(target_groups)
            figures["movements"] = movements
            out[row[0]] = figures
    return out


def _ethnic_groups() -> dict[int, dict[str, dict]]:
    """{commune: {stage: {ethnicity code: counts}}}: households by the head's group, persons by their own."""
    columns = []
    for stage, cat in ((OFFICIAL, "off_cat"), (PRELIMINARY, "pre_cat")):
        columns += [
            (stage, "households", "SUM(CASE WHEN m.relation = 'head' THEN 1 ELSE 0 END)"),
            (stage, "persons", "COUNT(*)"),
        ]
        for key in ("poor", "near_poor"):
            columns += [
                (stage, f"{key}_households",
                 f"SUM(CASE WHEN m.relation = 'head' AND t.{cat} = '{key}' THEN 1 ELSE 0 END)"),
                (stage, f"{key}_persons", f"SUM(CASE WHEN t.{cat} = '{key}' THEN 1 ELSE 0 END)"),
            ]
    select = ", ".join(expression for _s, _n, expression in columns)
    out: dict = defaultdict(lambda: {OFFICIAL: {}, PRELIMINARY: {}})
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT t.commune_id, e.code, {select}
            FROM {TEMP_TABLE} t
            JOIN households_member m ON m.household_id = t.household_id AND NOT m.is_archived
            JOIN households_ethnicity e ON e.id = m.ethnicity_id
            WHERE t.in_year = 1
            GROUP BY t.commune_id, e.code
        """)
        for row in cursor.fetchall():
            commune_id, code = row[0], row[1]
            for (stage, name, _e), value in zip(columns, row[2:], strict=True):
                out[commune_id][stage].setdefault(code, {})[name] = int(value or 0)
    return out


def _survey_lists() -> dict[int, dict[str, dict]]:
    """The list-valued answers of the surveys behind the lists, counted in one statement:
    {commune: {stage: {"deprived": {category: {indicator: (households, persons)}},
                       "causes": {category: {cause: (households, persons)}},
                       "answered": {category: (households, persons)}}}} — "answered" counts the
    households giving any cause of poverty."""
    postgres = connection.vendor == "postgresql"

    def each(column: str) -> tuple[str, str]:
        if postgres:
            return f"CROSS JOIN LATERAL jsonb_array_elements_text(s.{column}) AS d(code)", "d.code"
        return f"JOIN json_each(s.{column}) AS d", "d.value"

    length = "jsonb_array_length" if postgres else "json_array_length"
    parts = []
    for stage, cat, survey in ((OFFICIAL, "off_cat", "off_survey"), (PRELIMINARY, "pre_cat", "pre_survey")):
        base = (f"FROM {TEMP_TABLE} t JOIN reviews_survey s ON s.id = t.{survey} {{unnest}} "
                f"WHERE t.in_year = 1 AND t.{cat} IN ('poor', 'near_poor') {{extra}}")
        for kind in ("deprived", "causes"):
            unnest, code = each(kind)
            parts.append(f"SELECT '{stage}', '{kind}', t.commune_id, t.{cat}, {code}, COUNT(*), SUM(t.persons) "
                         + base.format(unnest=unnest, extra="") + f" GROUP BY t.commune_id, t.{cat}, {code}")
        parts.append(f"SELECT '{stage}', 'answered', t.commune_id, t.{cat}, '', COUNT(*), SUM(t.persons) "
                     + base.format(unnest="", extra=f"AND {length}(s.causes) > 0")
                     + f" GROUP BY t.commune_id, t.{cat}")
    out: dict = defaultdict(lambda: {stage: {"deprived": {"poor": {}, "near_poor": {}},
                                             "causes": {"poor": {}, "near_poor": {}}, "answered": {}}
                                     for stage in (OFFICIAL, PRELIMINARY)})
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts))
        for stage, kind, commune_id, category, code, households, persons in cursor.fetchall():
            counts = (int(households), int(persons or 0))
            if kind == "answered":
                out[commune_id][stage]["answered"][category] = counts
            else:
                out[commune_id][stage][kind][category][code] = counts
    return out


def _deprivation(lists: dict) -> dict[int, dict[str, dict]]:
    """{commune: {stage: {"poor": {indicator: households}, "near_poor": {…}}}}: deprived on each indicator."""
    return {commune_id: {stage: {category: {code: households for code, (households, _p) in counts.items()}
                                 for category, counts in answers["deprived"].items()}
                         for stage, answers in by_stage.items()}
            for commune_id, by_stage in lists.items()}


def _causes(lists: dict) -> dict[int, dict[str, dict]]:
    """{commune: {stage: {"poor": {cause: cell}, "near_poor": {…}, "answered": {"poor": cell, …}}}}
    (form 7.10); a cell is {"households", "persons"}; "answered" counts the households giving any cause."""
    def cell(counts: tuple[int, int]) -> dict:
        return {"households": counts[0], "persons": counts[1]}

    out: dict = {}
    for commune_id, by_stage in lists.items():
        for stage, answers in by_stage.items():
            figures = {category: {cause: cell(counts) for cause, counts in causes.items()}
                       for category, causes in answers["causes"].items()}
            if answers["answered"]:
                figures["answered"] = {category: cell(counts) for category, counts in answers["answered"].items()}
            out.setdefault(commune_id, {})[stage] = figures
    return out


def _cell(values) -> dict:
    return dict(zip(CELL_KEYS, (int(v or 0) for v in values), strict=True))


def _official_movements(year: int, *, decided_outside_the_review: bool = False) -> dict[int, list[tuple]]:
    """{commune: [(movement, previous, category, cell)]}: the year's changes of list (form 7.2/7.3).

    A household with two decided statuses in the year (a regular batch, then the
    periodic review) counts once for each change it made. `decided_outside_the_review`
    keeps the changes decided by regular rounds only (the preliminary figures add
    the periodic review's survey results to them).
    """
    out: dict = defaultdict(list)
    regular = "AND r.kind <> %s" if decided_outside_the_review else ""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT t.commune_id, s.movement, s.previous_category, s.category, COUNT(*), SUM(t.persons),
                   SUM(t.urban), SUM(CASE WHEN t.urban = 1 THEN t.persons ELSE 0 END)
            FROM reviews_householdstatus s
            JOIN {TEMP_TABLE} t ON t.household_id = s.household_id
            JOIN reviews_reviewround r ON r.id = s.round_id
            WHERE s.year = %s AND s.previous_category <> s.category {regular}
            GROUP BY t.commune_id, s.movement, s.previous_category, s.category
        """, [year, *([ReviewRound.Kind.PERIODIC] if decided_outside_the_review else [])])
        for commune_id, movement, previous, category, *cell in cursor.fetchall():
            out[commune_id].append((movement, previous, category, _cell(cell)))
    return out


def _preliminary_movements(year: int) -> dict[int, list[tuple]]:
    """The year's changes as the preliminary results stand: those decided by regular rounds, then
    each surveyed household's change from its list before the review to its survey result, named
    as the decision would name it (`reviews.services.movement`)."""
    from reviews.services import movement

    out = _official_movements(year, decided_outside_the_review=True)
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT commune_id, base_cat, pre_cat, was_poor, pre_demographic, COUNT(*), SUM(persons),
                   SUM(urban), SUM(CASE WHEN urban = 1 THEN persons ELSE 0 END)
            FROM {TEMP_TABLE}
            WHERE in_year = 1 AND surveyed = 1 AND base_cat <> pre_cat
            GROUP BY commune_id, base_cat, pre_cat, was_poor, pre_demographic
        """)
        for commune_id, previous, category, was_poor, demographic, *cell in cursor.fetchall():
            name = movement(previous, category, was_poor_before=bool(was_poor), demographic=demographic)
            out[commune_id].append((name, previous, category, _cell(cell)))
    return out


def _add_cell(into: dict, cell: dict) -> None:
    for key, value in cell.items():
        into[key] = into.get(key, 0) + value


def _apply_movements(movements: dict, changes: Iterable[tuple]) -> None:
    for movement, previous, category, cell in changes:
        for key in ("poor", "near_poor"):
            if previous == key and category != key:
                _add_cell(movements[key]["decrease"].setdefault(movement, {}), cell)
            elif category == key and previous != key:
                _add_cell(movements[key]["increase"].setdefault(movement, {}), cell)


def compute(year: int, communes: Iterable[int] | None = None) -> dict[int, dict[str, dict]]:
    """{commune id: {stage: {figure: value}}} for one commune or all, from the source rows.

    Must run inside a transaction (the temporary table lives on its connection).
    """
    _build_table(year, communes)
    try:
        stages = {OFFICIAL: _main_figures(OFFICIAL, year), PRELIMINARY: _main_figures(PRELIMINARY, year)}
        groups = _ethnic_groups()
        lists = _survey_lists()
        deprivation, causes = _deprivation(lists), _causes(lists)
        changes = {OFFICIAL: _official_movements(year), PRELIMINARY: _preliminary_movements(year)}
    finally:
        _drop_table()
    out: dict[int, dict[str, dict]] = {}
    for stage, by_commune in stages.items():
        for cid, figures in by_commune.items():
            figures["ethnic_groups"] = groups.get(cid, {}).get(stage, {}) if cid in groups else {}
            figures["deprivation"] = deprivation[cid][stage] if cid in deprivation else {"poor": {}, "near_poor": {}}
            figures["causes"] = causes[cid][stage] if cid in causes else {"poor": {}, "near_poor": {}}
            _apply_movements(figures["movements"], changes[stage].get(cid, ()))
            out.setdefault(cid, {})[stage] = figures
    return out


def empty_figures() -> dict:
    return {**dict.fromkeys(FIGURES, 0), **{name: {} for name in BREAKDOWNS}}


# --- writing -------------------------------------------------------------------------------


def _rollup_rows(unit_id: int, year: int, by_stage: dict[str, dict], now) -> list[Rollup]:
    rows = []
    for stage in (OFFICIAL, PRELIMINARY):
        figures = by_stage.get(stage) or empty_figures()
        rows.append(Rollup(unit_id=unit_id, year=year, stage=stage, computed_at=now,
                           **{name: figures[name] for name in (*FIGURES, *BREAKDOWNS)}))
    return rows


def _write(rows: list[Rollup]) -> None:
    """Insert or overwrite rollups in one statement per batch (never adds to a stored figure)."""
    Rollup.objects.bulk_create(rows, batch_size=1000, update_conflicts=True,
                               unique_fields=["unit", "year", "stage"],
                               update_fields=[*FIGURES, *BREAKDOWNS, "computed_at"])


def recompute_communes(commune_ids: Iterable[int], year: int, *, parents: bool = True) -> dict[int, dict]:
    """Recompute some communes' rollups of a year from their rows in one set-based pass, then the units
    above them; each commune's lock is held (taken in id order) while its rows are written."""
    communes = sorted(set(commune_ids))
    if not communes:
        return {}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Small scopes: the planner's estimates of the JSON lists' rows would start the JIT
            # compiler, which costs more (100–200 ms) than the queries themselves.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        _lock_all(shared=True)
        for commune_id in communes:
            _lock_unit(commune_id)
        started = now = timezone.now()
        figures = compute(year, communes)
        _write(list(itertools.chain.from_iterable(
            _rollup_rows(commune_id, year, figures.get(commune_id, {}), now) for commune_id in communes)))
        recompute_standard_effect(communes)
        # Only marks made before this run started are settled by it.
        DirtyCommune.objects.filter(commune_id__in=communes, year=year, marked_at__lte=started).delete()
    if parents:
        recompute_parents(communes, year)
    return figures


def recompute_commune(commune_id: int, year: int, *, parents: bool = True) -> dict[str, dict]:
    """Recompute one commune's rollups of a year from its rows, then the units above it."""
    return recompute_communes([commune_id], year, parents=parents).get(commune_id, {})


def parents_of(commune_ids: Iterable[int]) -> list[int]:
    """The reviewing units (districts on the 2021 map, provinces on the 2025 map) and provinces above."""
    ids = set()
    for parent_id, province_id in AdminUnit.objects.filter(pk__in=list(commune_ids)).values_list(
            "parent_id", "province_id"):
        ids.update(i for i in (parent_id, province_id) if i)
    return sorted(ids)


def _children_filter(unit: AdminUnit) -> Q:
    if unit.level == AdminUnit.Level.PROVINCE:
        return Q(unit__province_id=unit.pk)
    return Q(unit__parent_id=unit.pk)


def add_figures(total: dict, figures) -> None:
    """Add one rollup's figures (a Rollup or a dict) into `total`, breakdowns key by key."""
    get = (lambda name: getattr(figures, name)) if isinstance(figures, Rollup) else figures.__getitem__
    for name in FIGURES:
        total[name] = total.get(name, 0) + get(name)
    for name in BREAKDOWNS:
        _add_nested(total.setdefault(name, {}), get(name))


def _add_nested(into: dict, other: dict) -> None:
    for key, value in other.items():
        if isinstance(value, dict):
            _add_nested(into.setdefault(key, {}), value)
        else:
            into[key] = into.get(key, 0) + value


def recompute_parents(commune_ids: Iterable[int], year: int) -> None:
    """Sum the communes' rollups into each unit above them, one unit per transaction under its lock."""
    units = AdminUnit.objects.filter(pk__in=parents_of(commune_ids))
    for unit in units:
        with transaction.atomic():
            _lock_all(shared=True)
            _lock_unit(unit.pk)
            _write_parent(unit, year)
            _write_parent_effect(unit)


def _write_parent(unit: AdminUnit, year: int) -> None:
    totals = {OFFICIAL: empty_figures(), PRELIMINARY: empty_figures()}
    children = Rollup.objects.filter(_children_filter(unit), unit__level=AdminUnit.Level.COMMUNE, year=year)
    for rollup in children:
        add_figures(totals[rollup.stage], rollup)
    _write(_rollup_rows(unit.pk, year, totals, timezone.now()))


def recompute_all(year: int) -> int:
    """Every commune of a year in a few set-based queries, then every unit above; returns the communes."""
    with transaction.atomic():
        _lock_all(shared=False)
        started = now = timezone.now()
        by_commune = compute(year)
        existing = set(Rollup.objects.filter(year=year, unit__level=AdminUnit.Level.COMMUNE)
                       .values_list("unit_id", flat=True))
        communes = sorted(set(by_commune) | existing)
        rows = list(itertools.chain.from_iterable(
            _rollup_rows(cid, year, by_commune.get(cid, {}), now) for cid in communes))
        _write(rows)
        # The units above, summed in Python from the figures just computed.
        links = {pk: (parent, province) for pk, parent, province in AdminUnit.objects.filter(
            pk__in=communes).values_list("pk", "parent_id", "province_id")}
        totals: dict[int, dict] = {}
        for cid in communes:
            for parent_id in set(links.get(cid, (None, None))) - {None}:
                for stage in (OFFICIAL, PRELIMINARY):
                    add_figures(totals.setdefault(parent_id, {}).setdefault(stage, empty_figures()),
                                by_commune.get(cid, {}).get(stage) or empty_figures())
        _write(list(itertools.chain.from_iterable(
            _rollup_rows(uid, year, by_stage, now) for uid, by_stage in totals.items())))
        recompute_standard_effect(None)
        DirtyCommune.objects.filter(year=year, marked_at__lte=started).delete()
    return len(communes)


# --- the next standard's effect ---------------------------------------------------------------


def next_standards() -> dict[int | None, PovertyStandard]:
    """{province id or None (national): the standard of NEXT_STANDARD_YEAR}."""
    standards = {}
    for standard in PovertyStandard.objects.filter(first_year__lte=NEXT_STANDARD_YEAR,
                                                   last_year__gte=NEXT_STANDARD_YEAR).order_by("first_year"):
        standards[standard.province_id] = standard
    return standards


def _band(value, line: int, upper: int | None = None):
    """A representative of `value`'s side of the lines (at or under `line`, up to `upper`, above both)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return value  # left as it is, for classify to refuse
    if value <= line:
        return line
    if upper is not None and value <= upper:
        return upper
    return max(line, upper or 0) + 1


def _classify_next(rules: Rules, facts: tuple, memo: dict) -> str:
    """The household's category under `rules` from its survey facts.

    `classify` reads the income and score A only through their side of the lines and
    the deprivations only through how many there are, so each combination of those
    is classified once, on a representative household, and a million surveys cost a
    few dozen calls.
    """
    area, status, income, score_a, is_farm, deprived = facts
    if status != Survey.Status.SURVEYED:
        return Category.NONE  # stopped at Phiếu A
    # The codes deprived on, or their number among the rules' indicators when the database counted them.
    count = deprived if isinstance(deprived, int) else sum(1 for code in rules.indicators if code in deprived)
    if area in (RURAL, URBAN):
        income = _band(income, rules.income_line(area), rules.middle_line(area))
        score_a = _band(score_a, rules.score_line(area))
    key = (rules.code, area, income, score_a, is_farm, count)
    if key not in memo:
        # Indicators of the next standard that the survey did not ask count as not deprived.
        answers = {code: index < count for index, code in enumerate(rules.indicators)}
        try:
            memo[key] = classify(rules, area=area, deprivations=answers, income=income, score_a=score_a,
                                 is_farm=is_farm).category
        except InvalidSurvey:
            memo[key] = None
    return memo[key]


def recompute_standard_effect(commune_ids: list[int] | None) -> None:
    """Classify each active household's latest survey facts with the next standard, per commune.

    Set-based fetch (one window query), classification in batches of BATCH rows.
    """
    standards = next_standards()
    if not standards or (commune_ids is not None and not commune_ids):
        return
    rules = {province: Rules.from_standard(standard) for province, standard in standards.items()}
    ids = ", ".join(str(int(c)) for c in commune_ids or ())
    scope = f"AND h.commune_id IN ({ids})" if commune_ids else ""
    # With one set of indicators (the national standard's, or provinces' with the same), the database
    # counts each survey's deprivations among them; otherwise the codes come back to be matched here.
    indicator_sets = {standard_rules.indicators for standard_rules in rules.values()}
    params: list = []
    deprived = "s.deprived"
    if len(indicator_sets) == 1:
        indicators = list(next(iter(indicator_sets)))
        marks = ", ".join(["%s"] * len(indicators))
        if connection.vendor == "postgresql":
            each, value = "jsonb_array_elements_text(s.deprived) AS d(code)", "d.code"
        else:
            each, value = "json_each(s.deprived) AS d", "d.value"
        deprived = f"(SELECT COUNT(*) FROM {each} WHERE {value} IN ({marks}))"
        params += indicators
    sql = f"""
        SELECT h.commune_id, c.province_id, h.member_count, h.area,
               sv.status, sv.income, sv.score_a, sv.is_farm, sv.deprived
        FROM households_household h
        JOIN geo_adminunit c ON c.id = h.commune_id
        LEFT JOIN (
            SELECT household_id, status, income, score_a, is_farm, deprived FROM (
                SELECT s.household_id, s.status, s.income, s.score_a, s.is_farm, {deprived} AS deprived,
                       ROW_NUMBER() OVER (PARTITION BY s.household_id ORDER BY r.year DESC, r.month DESC, s.id DESC)
                           AS rn
                FROM reviews_survey s
                JOIN reviews_reviewround r ON r.id = s.round_id
                JOIN households_household h ON h.id = s.household_id
                WHERE s.status IN (%s, %s) {scope}
            ) ranked WHERE rn = 1
        ) sv ON sv.household_id = h.id
        WHERE NOT h.is_archived {scope}
    """
    counts: dict[int, dict] = defaultdict(lambda: defaultdict(int))
    codes: dict[int, str] = {}
    memo: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, Survey.Status.SURVEYED, Survey.Status.SCREENED_OUT])
        while batch := cursor.fetchmany(BATCH):
            for commune_id, province_id, persons, area, status, income, score_a, is_farm, deprived in batch:
                standard_rules = rules.get(province_id) or rules.get(None)
                if standard_rules is None:
                    continue
                codes[commune_id] = standard_rules.code
                row = counts[commune_id]
                row["households"] += 1
                row["persons"] += persons
                if status is None:
                    continue
                if isinstance(deprived, str):  # Django reads jsonb as text and decodes in the field
                    deprived = frozenset(json.loads(deprived) or ())
                elif deprived is None:
                    deprived = frozenset()
                category = _classify_next(standard_rules, (area, status, income, score_a, bool(is_farm), deprived),
                                          memo)
                if category is None:
                    continue
                row["surveyed_households"] += 1
                if category in ON_LISTS:
                    key = "poor" if category == Category.POOR else "near_poor"
                    row[f"{key}_households"] += 1
                    row[f"{key}_persons"] += persons
    now = timezone.now()
    targets = commune_ids if commune_ids is not None else sorted(set(counts) | set(
        StandardEffect.objects.filter(unit__level=AdminUnit.Level.COMMUNE).values_list("unit_id", flat=True)))
    rows = []
    for commune_id in targets:
        code = codes.get(commune_id) or next(iter(rules.values())).code
        rows.append(StandardEffect(unit_id=commune_id, standard_code=code, computed_at=now,
                                   **dict(counts.get(commune_id, {}))))
    if commune_ids is not None:
        StandardEffect.objects.filter(unit_id__in=commune_ids).exclude(
            standard_code__in=[r.standard_code for r in rows]).delete()
    _write_effects(rows)
    if commune_ids is None:
        for unit in AdminUnit.objects.filter(pk__in=parents_of(targets)):
            _write_parent_effect(unit)


EFFECT_FIGURES = ("households", "persons", "surveyed_households", "poor_households", "poor_persons",
                  "near_poor_households", "near_poor_persons")


def _write_effects(rows: list[StandardEffect]) -> None:
    StandardEffect.objects.bulk_create(rows, batch_size=1000, update_conflicts=True,
                                       unique_fields=["unit", "standard_code"],
                                       update_fields=[*EFFECT_FIGURES, "computed_at"])


def _write_parent_effect(unit: AdminUnit) -> None:
    totals: dict[str, dict] = {}
    for effect in StandardEffect.objects.filter(_children_filter(unit), unit__level=AdminUnit.Level.COMMUNE):
        row = totals.setdefault(effect.standard_code, dict.fromkeys(EFFECT_FIGURES, 0))
        for name in EFFECT_FIGURES:
            row[name] += getattr(effect, name)
    now = timezone.now()
    StandardEffect.objects.filter(unit=unit).exclude(standard_code__in=list(totals)).delete()
    _write_effects([StandardEffect(unit=unit, standard_code=code, computed_at=now, **row)
                    for code, row in totals.items()])


# --- which years -----------------------------------------------------------------------------


def report_years() -> list[int]:
    """The years figures are kept for: every year with a round or a status, and the current year."""
    years = set(ReviewRound.objects.values_list("year", flat=True).distinct())
    years |= set(HouseholdStatus.objects.values_list("year", flat=True).distinct())
    years.add(timezone.localdate().year)
    return sorted(years)
