"""Rollups: equal to a direct count of the demo's rows for every unit and figure, stable when
recomputed (twice, or at once on PostgreSQL), kept current by decisions, imports and archives,
targets and their achievement, and the next standard's effect.

The demo is seeded once for the module inside a transaction rolled back at the end
(as tests/test_demo.py does), so other modules see an empty database.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone, translation

from core.scoping import communes_for
from geo.models import AdminUnit
from households import services as household_services
from households.models import Household
from reports import compute, selectors
from reports.models import FIGURES, DirtyCommune, Rollup, StandardEffect, Target, achievement
from reviews.classification import Rules, classify
from reviews.models import ReviewRound, Survey
from reviews.services import is_newly_escaped
from reviews.services import movement as review_movement

ON_LISTS = ("poor", "near_poor")


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), translation.override("en"), transaction.atomic():
        call_command("seed_demo", verbosity=0)
        # The seeding's on-commit callbacks would wait for the outer transaction, which never
        # commits; run them now, as a commit would, so that tests queue their own afresh.
        pending, connection.run_on_commit = connection.run_on_commit, []
        for _sids, callback, _robust in pending:
            callback()
        years = compute.report_years()
        for year in years:
            compute.recompute_all(year)
        yield years
        transaction.set_rollback(True)


# --- the direct count: household by household, in Python -------------------------------------


def _end(year: int) -> datetime:
    return timezone.make_aware(datetime(year + 1, 1, 1))


def _latest(statuses, keep):
    chosen = [s for s in statuses if keep(s)]
    return max(chosen, key=lambda s: (s.year, s.decided_on, s.pk)) if chosen else None


def direct_count(year: int, communes) -> dict[str, dict]:
    """Every figure of a set of communes for a year, counted one household at a time."""
    on = compute.newly_escaped_on(year)
    since = compute._since(on)
    start = timezone.make_aware(datetime(year, 1, 1))
    households = (Household.objects.filter(commune__in=communes)
                  .prefetch_related("statuses__round", "members__ethnicity"))
    deprived = dict(Survey.objects.filter(household__commune__in=communes).values_list("pk", "deprived"))
    causes = dict(Survey.objects.filter(household__commune__in=communes).values_list("pk", "causes"))
    round_surveys = {s.household_id: s for s in Survey.objects.filter(
        round__commune__in=communes, round__year=year, round__kind=ReviewRound.Kind.PERIODIC,
        status__in=[Survey.Status.SURVEYED, Survey.Status.SCREENED_OUT])}
    out = {stage: defaultdict(int) for stage in (compute.OFFICIAL, compute.PRELIMINARY)}
    nested = {stage: {"ethnic_groups": defaultdict(lambda: defaultdict(int)),
                      "deprivation": {"poor": defaultdict(int), "near_poor": defaultdict(int)},
                      "causes": {"poor": defaultdict(lambda: defaultdict(int)),
                                 "near_poor": defaultdict(lambda: defaultdict(int)),
                                 "answered": defaultdict(lambda: defaultdict(int))},
                      "target_groups": defaultdict(lambda: defaultdict(int))} for stage in out}
    movements = {key: {"start": defaultdict(int), "decrease": defaultdict(lambda: defaultdict(int)),
                       "increase": defaultdict(lambda: defaultdict(int))} for key in ON_LISTS}
    preliminary_moves = {key: {"decrease": defaultdict(lambda: defaultdict(int)),
                               "increase": defaultdict(lambda: defaultdict(int))} for key in ON_LISTS}

    def move(into, name, previous, category, cell):
        for key in ON_LISTS:
            side = ("decrease" if previous == key and category != key
                    else "increase" if category == key and previous != key else None)
            if side:
                for k, value in cell.items():
                    into[key][side][name][k] += value
    for h in households:
        statuses = list(h.statuses.all())
        official = _latest(statuses, lambda s: s.year <= year)
        previous = _latest(statuses, lambda s: s.year <= year - 1)
        base = _latest(statuses, lambda s: s.year <= year and not (
            s.year == year and s.round.kind == ReviewRound.Kind.PERIODIC))
        in_year = ((not h.is_archived or h.archived_at >= _end(year))
                   and (h.created_at < _end(year) or official is not None))
        in_prev = ((not h.is_archived or h.archived_at >= start)
                   and (h.created_at < start or previous is not None))
        persons, urban = h.member_count, h.area == Household.Area.URBAN
        cell = {"households": 1, "persons": persons, "urban_households": int(urban),
                "urban_persons": persons if urban else 0}
        if in_prev and previous is not None and previous.category in ON_LISTS:
            for key, value in cell.items():
                movements[previous.category]["start"][key] += value
        if in_year or in_prev:
            for s in statuses:
                if s.year != year or s.previous_category == s.category:
                    continue
                move(movements, s.movement, s.previous_category, s.category, cell)
                if s.round.kind != ReviewRound.Kind.PERIODIC:
                    move(preliminary_moves, s.movement, s.previous_category, s.category, cell)
        if not in_year:
            continue
        survey = round_surveys.get(h.pk)
        base_category = base.category if base else "none"
        if survey is not None and survey.category != base_category:
            was_poor = any(s.category == "poor" for s in statuses if s.year <= year and not (
                s.year == year and s.round.kind == ReviewRound.Kind.PERIODIC))
            move(preliminary_moves, review_movement(base_category, survey.category, was_poor_before=was_poor,
                                                    demographic=survey.demographic_change),
                 base_category, survey.category, cell)
        categories = {
            compute.OFFICIAL: (official.category, official.survey_id) if official else ("none", None),
            compute.PRELIMINARY: (survey.category, survey.pk) if survey else (
                (base.category, base.survey_id) if base else ("none", None)),
        }
        exits_before = [s.decided_on for s in statuses if s.year <= year and s.decided_on <= on
                        and s.previous_category in ON_LISTS and s.category not in ON_LISTS
                        and not (s.year == year and s.round.kind == ReviewRound.Kind.PERIODIC)]
        for stage, (category, behind) in categories.items():
            row = out[stage]
            flags = {"": True, "urban_": urban, "minority_": h.is_ethnic_minority}
            for prefix, flag in flags.items():
                if not flag:
                    continue
                row[f"{prefix}households"] += 1
                row[f"{prefix}persons"] += persons
                if category in ON_LISTS or (prefix == "" and category == "middle"):
                    row[f"{prefix}{category}_households"] += 1
                    row[f"{prefix}{category}_persons"] += persons
            if stage == compute.OFFICIAL:
                escaped = is_newly_escaped([s for s in statuses if s.year <= year], on)
            else:
                base_category = base.category if base else "none"
                escaped = category not in ON_LISTS and (
                    base_category in ON_LISTS or any(d >= since for d in exits_before))
            if escaped:
                row["newly_escaped_households"] += 1
                row["newly_escaped_persons"] += persons
            if category in ON_LISTS:
                for group, flag in (("ethnic_minority", h.is_ethnic_minority),
                                    ("meritorious", h.has_meritorious_member),
                                    ("social_protection", h.is_social_protection)):
                    if flag:
                        nested[stage]["target_groups"][group][f"{category}_households"] += 1
                        nested[stage]["target_groups"][group][f"{category}_persons"] += persons
                if behind is not None:
                    for code in deprived[behind]:
                        nested[stage]["deprivation"][category][code] += 1
                    for code in causes[behind]:
                        nested[stage]["causes"][category][code]["households"] += 1
                        nested[stage]["causes"][category][code]["persons"] += persons
                    if causes[behind]:
                        nested[stage]["causes"]["answered"][category]["households"] += 1
                        nested[stage]["causes"]["answered"][category]["persons"] += persons
            for member in h.members.all():
                if member.is_archived:
                    continue
                group = nested[stage]["ethnic_groups"][member.ethnicity.code]
                group["persons"] += 1
                group["households"] += member.relation == "head"
                if category in ON_LISTS:
                    group[f"{category}_persons"] += 1
                    group[f"{category}_households"] += member.relation == "head"
    result = {}
    for stage, row in out.items():
        figures = {name: row.get(name, 0) for name in FIGURES}
        figures["ethnic_groups"] = {code: dict(g) for code, g in
                                    nested[stage]["ethnic_groups"].items()}
        figures["deprivation"] = {k: dict(v) for k, v in nested[stage]["deprivation"].items()}
        figures["target_groups"] = {k: dict(v) for k, v in nested[stage]["target_groups"].items()}
        figures["causes"] = {k: {c: dict(cell) for c, cell in v.items()} for k, v in nested[stage]["causes"].items()}
        result[stage] = figures
    def moved(stage, key, start, m):
        figures = result[stage]
        return {"start": dict(start),
                "decrease": {c: dict(v) for c, v in m["decrease"].items()},
                "increase": {c: dict(v) for c, v in m["increase"].items()},
                "end": {"households": figures[f"{key}_households"], "persons": figures[f"{key}_persons"],
                        "urban_households": figures[f"urban_{key}_households"],
                        "urban_persons": figures[f"urban_{key}_persons"]}}

    result["movements"] = {key: moved(compute.OFFICIAL, key, m["start"], m) for key, m in movements.items()}
    result["preliminary_movements"] = {key: moved(compute.PRELIMINARY, key, movements[key]["start"], m)
                                       for key, m in preliminary_moves.items()}
    return result


def _nonzero(value):
    """Nested dicts without the zero entries (a count of zero and a missing key mean the same)."""
    if isinstance(value, dict):
        cleaned = {k: _nonzero(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (0, {}, None)}
    return value


def _communes_of(unit: AdminUnit):
    communes = AdminUnit.objects.filter(level=AdminUnit.Level.COMMUNE)
    if unit.level == AdminUnit.Level.COMMUNE:
        return communes.filter(pk=unit.pk)
    if unit.level == AdminUnit.Level.PROVINCE:
        return communes.filter(province=unit)
    return communes.filter(parent=unit)


def _check_unit(unit: AdminUnit, year: int) -> None:
    expected = direct_count(year, _communes_of(unit))
    for stage in (compute.OFFICIAL, compute.PRELIMINARY):
        rollup = Rollup.objects.get(unit=unit, year=year, stage=stage)
        for name in FIGURES:
            assert getattr(rollup, name) == expected[stage][name], (unit.code, year, stage, name)
        for name in ("ethnic_groups", "deprivation", "target_groups", "causes"):
            assert _nonzero(getattr(rollup, name)) == _nonzero(expected[stage][name]), (unit.code, year, stage, name)
    official = Rollup.objects.get(unit=unit, year=year, stage=compute.OFFICIAL)
    assert _nonzero(official.movements) == _nonzero(expected["movements"]), (unit.code, year)
    preliminary = Rollup.objects.get(unit=unit, year=year, stage=compute.PRELIMINARY)
    assert _nonzero(preliminary.movements) == _nonzero(expected["preliminary_movements"]), (unit.code, year)


# --- rollups equal the rows ------------------------------------------------------------------------


@pytest.mark.django_db
def test_rollups_equal_a_direct_count_for_every_unit_year_and_figure(demo):
    units = AdminUnit.objects.filter(pk__in=Rollup.objects.values("unit")).order_by("level", "code")
    assert units.filter(level=AdminUnit.Level.COMMUNE).count() > 1
    assert units.filter(level=AdminUnit.Level.DISTRICT).exists() and units.filter(
        level=AdminUnit.Level.PROVINCE).exists()
    assert len(demo) >= 3  # two decided years and the current one
    poor_seen = False
    for year in demo:
        for unit in units:
            _check_unit(unit, year)
        poor_seen |= Rollup.objects.filter(year=year, poor_households__gt=0).exists()
    assert poor_seen
    # The current year's surveys move households between the lists before any decision.
    assert any(r.movements.get("poor", {}).get("decrease") or r.movements.get("poor", {}).get("increase")
               for r in Rollup.objects.filter(stage=compute.PRELIMINARY, year=demo[-1]))
    # The demo's surveys give causes of poverty, counted for form 7.10.
    assert any(r.causes.get("poor") and r.causes.get("answered") for r in Rollup.objects.only("causes"))
    # The demo's decided years carry movements; the current year's preliminary figures differ from the official.
    assert Rollup.objects.exclude(movements__poor__decrease={}).exists()


@pytest.mark.django_db
def test_recomputing_twice_or_one_commune_changes_nothing(demo):
    def snapshot():
        return {(r.unit_id, r.year, r.stage): ({n: getattr(r, n) for n in FIGURES}, r.ethnic_groups,
                                                r.deprivation, r.movements, r.target_groups, r.causes)
                for r in Rollup.objects.all()}

    before, rows = snapshot(), Rollup.objects.count()
    year = demo[-1]
    compute.recompute_all(year)
    commune = AdminUnit.objects.filter(level=AdminUnit.Level.COMMUNE, rollups__year=year).first()
    compute.recompute_commune(commune.pk, year)
    compute.recompute_commune(commune.pk, year)
    assert snapshot() == before
    # Several communes in one set-based pass (as after an import) give the same figures too.
    communes = list(AdminUnit.objects.filter(level=AdminUnit.Level.COMMUNE, rollups__year=year)
                    .values_list("pk", flat=True).distinct())
    assert len(communes) > 1
    compute.recompute_communes(communes, year)
    assert snapshot() == before
    assert Rollup.objects.count() == rows


@pytest.mark.django_db
def test_the_dirty_communes_are_recounted_together_and_their_marks_settled(demo, monkeypatch):
    from reports.tasks import refresh_dirty_rollups

    passes = []
    original = compute.compute
    monkeypatch.setattr(compute, "compute", lambda year, communes=None: passes.append(communes) or original(
        year, communes))

    year = demo[-1]
    communes = list(AdminUnit.objects.filter(level=AdminUnit.Level.COMMUNE, rollups__year=year).distinct())
    Rollup.objects.filter(unit__in=communes, year=year).update(households=0)
    now = timezone.now()
    DirtyCommune.objects.bulk_create([DirtyCommune(commune=c, year=year, marked_at=now) for c in communes])
    assert refresh_dirty_rollups.run() == len(communes)
    assert passes == [sorted(c.pk for c in communes)]  # one set-based pass, not one per commune
    assert not DirtyCommune.objects.exists()
    for commune in communes:
        _check_unit(commune, year)
    _check_unit(communes[0].province, year)


# --- kept current by the services -----------------------------------------------------------------


def _rollup(unit, year, stage=compute.OFFICIAL) -> Rollup:
    return Rollup.objects.get(unit=unit, year=year, stage=stage)


@pytest.mark.django_db
def test_an_archive_updates_the_figures_of_the_commune_and_the_units_above(demo, django_capture_on_commit_callbacks):
    from core.models import User

    year = timezone.localdate().year
    officer = User.objects.get(username="xa_tathang")
    household = Household.objects.filter(commune=officer.unit, is_archived=False, classification="poor").first()
    before = _rollup(officer.unit, year), _rollup(officer.unit.parent, year), _rollup(officer.unit.province, year)
    with django_capture_on_commit_callbacks(execute=True):
        household_services.archive_household(actor=officer, household=household, reason="Chuyển đi nơi khác",
                                             source="form")
    after = _rollup(officer.unit, year), _rollup(officer.unit.parent, year), _rollup(officer.unit.province, year)
    for old, new in zip(before, after, strict=True):
        assert new.households == old.households - 1
        assert new.persons == old.persons - household.member_count
        assert new.computed_at > old.computed_at
    assert not DirtyCommune.objects.exists()
    _check_unit(officer.unit, year)


@pytest.mark.django_db
def test_a_decision_updates_the_official_figures(demo, django_capture_on_commit_callbacks):
    from reviews import services as review_services

    round_ = ReviewRound.objects.filter(status=ReviewRound.Status.APPROVED).select_related("commune").first()
    assert round_ is not None, "the demo has an approved round waiting for its decision"
    from core.models import User

    officer = (User.objects.filter(unit=round_.commune, role="commune_officer").first()
               or User.objects.filter(is_superuser=True).first())
    before = _rollup(round_.commune, round_.year)
    with django_capture_on_commit_callbacks(execute=True):
        review_services.record_decision(actor=officer, round_=round_, number=f"99/{round_.year}/QĐ-UBND",
                                        decided_on=timezone.localdate(), signer="Chủ tịch UBND xã")
    after = _rollup(round_.commune, round_.year)
    assert after.computed_at > before.computed_at
    expected = direct_count(round_.year, _communes_of(round_.commune))
    assert after.poor_households == expected[compute.OFFICIAL]["poor_households"]
    # The decision turned the round's surveys into official statuses: official now equals preliminary.
    preliminary = _rollup(round_.commune, round_.year, compute.PRELIMINARY)
    assert (after.poor_households, after.near_poor_households) == (
        preliminary.poor_households, preliminary.near_poor_households)
    assert (after.poor_households, after.near_poor_households) != (
        before.poor_households, before.near_poor_households)
    _check_unit(round_.commune.parent, round_.year)


@pytest.mark.django_db
def test_an_import_updates_the_figures(demo, django_capture_on_commit_callbacks, settings, tmp_path):
    import io

    from core.models import User
    from exchange import services as exchange_services
    from exchange.models import ImportBatch
    from tests.test_exchange_import import household_row, member_row, workbook_bytes

    settings.MEDIA_ROOT = tmp_path
    year = timezone.localdate().year
    officer = User.objects.get(username="xa_tathang")
    before = _rollup(officer.unit, year)
    households = [household_row(code=f"IMP{i:03d}", commune=officer.unit.code, village="Thôn Nhập Mới",
                                head=f"Giàng A Nhập {i}") for i in range(3)]
    members = [member_row(f"Giàng A Nhập {i}", code=f"IMP{i:03d}", commune=officer.unit.code) for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        batch = exchange_services.create_batch(user=officer, upload=io.BytesIO(workbook_bytes(households, members)),
                                               file_name="ds.xlsx")
        batch = exchange_services.check_batch(batch.pk)
        assert batch.status == ImportBatch.Status.VALIDATED and not batch.rejected
        exchange_services.confirm_batch(user=officer, batch=batch, valid_rows_only=False)
        exchange_services.import_batch(batch.pk)
    after = _rollup(officer.unit, year)
    assert after.households == before.households + 3
    assert after.persons == before.persons + 3
    _check_unit(officer.unit, year)


# --- targets ------------------------------------------------------------------------------------------


def test_achievement_of_each_kind_of_target():
    unit = AdminUnit(pk=1, level="district", code="083", name="Huyện")
    before = Rollup(unit=unit, year=2025, stage="official", households=1000, poor_households=300)
    now = Rollup(unit=unit, year=2026, stage="official", households=1000, poor_households=260,
                 movements={"poor": {"decrease": {"escaped_near": {"households": 30},
                                                  "escaped_above": {"households": 22},
                                                  "moved_out": {"households": 5}}}})
    # 30.0% → 26.0%: 4.0 points made.
    assert achievement(Target(unit=unit, year=2026, kind="reduction", value=Decimal("3.00")), before, now) == \
        Decimal("133.3")
    assert achievement(Target(unit=unit, year=2026, kind="rate", value=Decimal("27.00")), before, now) == \
        Decimal("133.3")
    assert achievement(Target(unit=unit, year=2026, kind="escapes", value=Decimal("40")), before, now) == \
        Decimal("130.0")
    assert achievement(Target(unit=unit, year=2026, kind="escapes", value=Decimal("40")), None, now) is None
    assert achievement(Target(unit=unit, year=2026, kind="rate", value=Decimal("31.00")), before, now) is None


@pytest.mark.django_db
def test_targets_with_achievement_are_scoped_and_computed_from_the_rollups(demo):
    from core.models import User

    province_admin = User.objects.get(username="tinh_laocai")
    officer = User.objects.get(username="xa_tathang")
    district = AdminUnit.objects.get(edition=2021, level="district", code="083")
    years = [y for y in demo if Rollup.objects.filter(unit=district, year=y - 1).exists()]
    year = years[-1]
    Target.objects.create(unit=district, year=year, kind=Target.Kind.REDUCTION, value=Decimal("1.00"),
                          set_by=province_admin)
    rows = selectors.targets_with_achievement(province_admin, district, year)
    assert len(rows) == 1
    before = Rollup.objects.get(unit=district, year=year - 1, stage="official")
    now = Rollup.objects.get(unit=district, year=year, stage="official")
    assert rows[0].achieved == achievement(rows[0].target, before, now)
    assert selectors.targets_with_achievement(officer, district, year) == []


# --- selectors -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_selectors_answer_inside_the_area_only(demo, django_assert_max_num_queries):
    from core.models import User

    reviewer = User.objects.get(username="huyen_muongkhuong")
    other = User.objects.get(username="huyen_batxat")
    district = reviewer.unit
    year = demo[-1]
    with django_assert_max_num_queries(3):
        rollup = selectors.rollup_for(reviewer, district, year, compute.OFFICIAL)
    assert rollup.unit_id == district.pk
    assert selectors.rollup_for(other, district, year, compute.OFFICIAL) is None
    with django_assert_max_num_queries(4):
        children = selectors.child_rollups(reviewer, district, year)
    assert {c.rollup.unit_id for c in children} == set(
        communes_for(reviewer).filter(rollups__year=year).values_list("pk", flat=True))
    rates = [c.rollup.poor_rate or 0 for c in children]
    assert rates == sorted(rates, reverse=True)
    series = selectors.rate_series(reviewer, district, demo)
    assert [point.year for point in series] == demo
    profile = selectors.deprivation_profile(reviewer, district, year)
    assert profile and all(row.poor_share is None or 0 <= row.poor_share <= 100 for row in profile)
    moves = selectors.movements(reviewer, district, year)
    assert moves is not None and "poor" in moves
    assert selectors.child_rollups(other, district, year) == []


# --- the next standard -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_next_standard_effect_counts_each_households_latest_survey_with_the_next_standard(demo):
    from core.models import User
    from reviews.models import PovertyStandard

    officer = User.objects.get(username="xa_tathang")
    commune = officer.unit
    standard = PovertyStandard.objects.get(code="2027-2030")
    rules = Rules.from_standard(standard)
    poor = near = surveyed = 0
    for household in Household.objects.filter(commune=commune, is_archived=False):
        survey = (Survey.objects.filter(household=household, status__in=[Survey.Status.SURVEYED,
                                                                          Survey.Status.SCREENED_OUT])
                  .order_by("-round__year", "-round__month", "-pk").first())
        if survey is None:
            continue
        surveyed += 1
        if survey.status == Survey.Status.SCREENED_OUT:
            continue
        category = classify(rules, area=household.area, income=survey.income, score_a=survey.score_a,
                            is_farm=survey.is_farm,
                            deprivations={code: code in survey.deprived for code in rules.indicators}).category
        poor += category == "poor"
        near += category == "near_poor"
    effect = selectors.next_standard_effect(officer, commune)
    assert effect is not None
    assert (effect.next.poor_households, effect.next.near_poor_households, effect.next.surveyed_households) == (
        poor, near, surveyed)
    assert effect.today.unit_id == commune.pk
    # The higher lines of 2027–2030 never make fewer households poor than today's standard on the same facts.
    assert effect.next.poor_households >= 1
    district = commune.parent
    total = StandardEffect.objects.get(unit=district, standard_code=standard.code)
    assert total.poor_households == sum(StandardEffect.objects.filter(
        unit__parent=district, standard_code=standard.code).values_list("poor_households", flat=True))
