"""`manage.py seed_demo`: the demo households of Lào Cai and the demo users.

The command runs once for the module (it loads the 2021 map and a few thousand
households, a few seconds), inside a transaction that is rolled back at the end
so that the other test modules see an empty database. Each test runs in its own
savepoint within it.
"""

from __future__ import annotations

import random
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import translation

from core.audit import diff, snapshot
from core.models import AuditEvent, User
from core.scoping import communes_for
from core.text import fold
from geo.models import AdminUnit
from households import demo, services
from households.models import CommuneSummary, Household, Member, Village
from households.validators import clean_personal_id

POOREST = ["02794", "02791", "02701", "02692", "02722", "02713"]  # Tả Thàng, La Pan Tẩn, Y Tý, A Lù, …


def _counts() -> dict[str, int]:
    return {
        "units": AdminUnit.objects.count(),
        "villages": Village.objects.count(),
        "households": Household.objects.count(),
        "members": Member.objects.count(),
        "users": User.objects.count(),
        "events": AuditEvent.objects.count(),
        "summaries": CommuneSummary.objects.count(),
    }


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), translation.override("en"), transaction.atomic():
        assert not AdminUnit.objects.filter(edition=2021).exists(), "the command must load the map itself"
        out = StringIO()
        call_command("seed_demo", stdout=out)
        yield SimpleNamespace(output=out.getvalue())
        transaction.set_rollback(True)


def commune(code: str) -> AdminUnit:
    return AdminUnit.objects.get(edition=2021, level=AdminUnit.Level.COMMUNE, code=code)


@pytest.mark.django_db
def test_builds_lao_cai_in_both_districts(seeded):
    assert "3" in seeded.output and "households" in seeded.output
    communes = AdminUnit.objects.filter(households__isnull=False).distinct()
    assert 10 <= communes.count() <= 14
    assert {c.parent.code for c in communes} == {"082", "083"}
    assert {c.province.code for c in communes} == {"10"}
    assert set(communes.values_list("edition", flat=True)) == {2021}
    assert {"02794", "02791", "02761"} <= set(communes.values_list("code", flat=True))
    for unit in communes:
        villages = Village.objects.filter(commune=unit)
        assert 3 <= villages.count() <= 8, unit
        assert all(v.households.exists() for v in villages), unit
        assert all(v.search_name == fold(v.name) for v in villages)
    town = commune("02761")
    assert town.is_urban
    assert set(Village.objects.filter(commune=town).values_list("name", flat=True)) == {
        f"Tổ dân phố {n}" for n in range(1, 9)}
    assert all(v.name.startswith(("Thôn ", "Bản ")) for v in Village.objects.exclude(commune=town))

    households = Household.objects.count()
    members = Member.objects.count()
    assert 3000 <= households <= 4000
    assert 4.2 <= members / households <= 4.8


@pytest.mark.django_db
def test_demo_users_have_their_roles_and_log_in(seeded, client):
    expected = {
        "xa_tathang": (User.Role.COMMUNE_OFFICER, "commune", "02794"),
        "xa_lapantan": (User.Role.COMMUNE_OFFICER, "commune", "02791"),
        "huyen_muongkhuong": (User.Role.REVIEWER, "district", "083"),
        "huyen_batxat": (User.Role.REVIEWER, "district", "082"),
        "tinh_laocai": (User.Role.PROVINCE_ADMIN, "province", "10"),
    }
    for username, (role, level, code) in expected.items():
        user = User.objects.get(username=username)
        assert (user.role, user.unit.level, user.unit.code, user.unit.edition) == (role, level, code, 2021)
        assert user.is_staff and not user.is_superuser and user.is_active
        assert user.first_name and user.last_name
        user.full_clean()
        assert communes_for(user).filter(households__isnull=False).exists()
        assert client.login(username=username, password="demo12345"), username
        client.logout()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and not admin.role
    assert client.login(username="admin", password="demo12345")
    assert not client.login(username="xa_tathang", password="wrong")
    # A commune officer sees their commune only; the district reviewer all of its communes.
    officer = User.objects.get(username="xa_tathang")
    assert list(communes_for(officer).filter(households__isnull=False).distinct()) == [commune("02794")]
    assert Household.objects.for_user(User.objects.get(username="huyen_batxat")).filter(
        commune__code="02794").count() == 0


@pytest.mark.django_db
def test_poverty_is_shaped_like_the_province_reports(seeded):
    def shares(code: str) -> tuple[float, float]:
        qs = Household.objects.filter(commune=commune(code))
        total = qs.count()
        return (qs.filter(classification=Household.Classification.POOR).count() / total,
                qs.filter(classification=Household.Classification.NEAR_POOR).count() / total)

    poor, near = shares("02794")
    assert 0.40 <= poor <= 0.60
    assert 0.12 <= near <= 0.22
    for code in POOREST:
        poor, near = shares(code)
        assert 0.40 <= poor <= 0.60, code
        assert 0.12 <= near <= 0.22, code
    poor, near = shares("02761")
    assert 0.02 <= poor <= 0.06
    assert not Household.objects.filter(~Q(classification="none"), classification_year__isnull=True).exists()
    assert set(Household.objects.exclude(classification="none").values_list("classification_year", flat=True)) \
        == {demo.review_years()[1]}
    assert not Household.objects.filter(classification=Household.Classification.MIDDLE, is_farm=False).exists()
    rural = Household.objects.filter(area=Household.Area.RURAL)
    assert rural.filter(is_farm=True).count() / rural.count() > 0.85
    # The highland communes are mostly Mông, Dao, Hà Nhì; the town mostly Kinh, Tày, Giáy, Nùng.
    for code in ["02794", "02791"]:
        heads = Member.objects.filter(household__commune=commune(code), relation="head")
        assert heads.filter(ethnicity__name__in=["Mông", "Dao"]).count() / heads.count() > 0.8
    town_heads = Member.objects.filter(household__commune=commune("02761"), relation="head")
    assert town_heads.filter(ethnicity__name__in=["Kinh", "Tày", "Giáy", "Nùng"]).count() / town_heads.count() > 0.7
    # Most poor and near-poor people have a health-insurance card.
    poorish = Member.objects.filter(household__classification__in=["poor", "near_poor"])
    assert poorish.filter(has_health_insurance=True).count() / poorish.count() > 0.9


@pytest.mark.django_db
def test_households_are_consistent(seeded):
    heads = Household.objects.annotate(
        heads=Count("members", filter=Q(members__relation="head", members__is_archived=False)),
        active=Count("members", filter=Q(members__is_archived=False)),
    )
    assert not heads.exclude(heads=1).exists()
    assert not heads.exclude(member_count=F("active")).exists()
    # Every derived column is exactly what the services would compute.
    for household in Household.objects.prefetch_related("members"):
        assert services.refresh_derived(household) == [], household.code
    town = commune("02761")
    assert town.is_urban
    assert set(Household.objects.filter(commune=town).values_list("area", flat=True)) == {"urban"}
    assert set(Household.objects.exclude(commune=town).values_list("area", flat=True)) == {"rural"}
    assert not Member.objects.exclude(search_name__isnull=False).exists()
    for full_name, search_name in Member.objects.values_list("full_name", "search_name"):
        assert search_name == fold(full_name)
    # The summaries were refreshed.
    for summary in CommuneSummary.objects.filter(commune__households__isnull=False).distinct():
        qs = Household.objects.filter(commune=summary.commune)
        assert summary.households == qs.count()
        assert summary.poor == qs.filter(classification="poor").count()
        assert summary.members == Member.objects.filter(household__commune=summary.commune).count()


@pytest.mark.django_db
def test_people_look_real(seeded):
    members = list(Member.objects.select_related("household", "ethnicity"))
    pids = [m.personal_id for m in members if m.personal_id]
    assert len(pids) == len(set(pids))
    twelve = legacy = 0
    for m in members:
        try:
            cleaned = clean_personal_id(m.personal_id, sex=m.sex, birth_year=m.birth_year)
        except ValidationError as exc:  # pragma: no cover - the message says which one
            pytest.fail(f"{m.full_name} {m.personal_id}: {exc.messages}")
        assert cleaned.value == m.personal_id
        assert cleaned.is_legacy == m.personal_id_is_legacy
        twelve += len(m.personal_id) == 12
        legacy += m.personal_id_is_legacy
        if m.birth_date:
            assert m.birth_date.year == m.birth_year
        words = m.full_name.split(" ")
        assert len(words) >= 3, m.full_name
        if words[1] == "Thị":
            assert m.sex == Member.Sex.FEMALE, m.full_name
        if words[1] in ("Văn", "A", "Seo", "Láo"):
            assert m.sex == Member.Sex.MALE, m.full_name
    total = len(members)
    assert twelve / total > 0.75
    assert 0 < legacy / total < 0.1
    assert 0 < sum(1 for m in members if not m.personal_id) / total < 0.2
    assert 0.3 < sum(1 for m in members if m.birth_date) / total < 0.9
    # An adult head, a plausible spread of ages, both sexes.
    assert all(2025 - m.birth_year >= 18 for m in members if m.relation == "head")
    ages = [2025 - m.birth_year for m in members]
    assert 0.25 < sum(a < 16 for a in ages) / total < 0.45
    assert 0.04 < sum(a >= 65 for a in ages) / total < 0.15
    assert 0.45 < sum(m.sex == "female" for m in members) / total < 0.55
    # A spouse is of the other sex than the head; a head's child is younger than the head.
    heads = {m.household_id: m for m in members if m.relation == "head"}
    for m in members:
        if m.relation == "spouse":
            assert heads[m.household_id].sex != m.sex
        if m.relation == "child":
            assert m.birth_year > heads[m.household_id].birth_year


@pytest.mark.django_db
def test_audit_events_record_every_created_row(seeded):
    # The register's rows (the demo's review steps leave their own events: surveys, meetings, requests).
    events = AuditEvent.objects.filter(source=AuditEvent.Source.DEMO, content_type__model__in=["household", "member"])
    assert events.filter(action=AuditEvent.Action.CREATE).count() == events.count()
    assert events.filter(content_type__model="household").count() == Household.objects.count()
    assert events.filter(content_type__model="member").count() == Member.objects.count()
    assert not events.filter(household__isnull=True).exists()
    household = Household.objects.get(commune=commune("02794"), code="0001")
    event = events.get(content_type__model="household", object_id=household.pk)
    assert event.household_id == household.pk
    # The creation, then each review decision's change, replay to the household as it is now.
    state = {name: values[1] for name, values in event.changes.items()}
    for later in AuditEvent.objects.filter(content_type__model="household", object_id=household.pk,
                                           pk__gt=event.pk).order_by("pk"):
        assert later.source == AuditEvent.Source.REVIEW
        state.update({name: values[1] for name, values in later.changes.items()})
    assert diff({}, state) == diff({}, snapshot(household, services.HOUSEHOLD_FIELDS))
    member = household.members.first()
    event = events.get(content_type__model="member", object_id=member.pk)
    assert event.changes == diff({}, snapshot(member, services.MEMBER_FIELDS))
    assert event.household_id == household.pk


@pytest.mark.django_db
def test_second_run_changes_nothing(seeded):
    before = _counts()
    passwords = dict(User.objects.values_list("username", "password"))
    User.objects.filter(username="xa_tathang").update(first_name="Đổi tên")
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert _counts() == before
    assert dict(User.objects.values_list("username", "password")) == passwords
    assert User.objects.get(username="xa_tathang").first_name == "Đổi tên"
    assert "already there" in out.getvalue()


@pytest.mark.django_db
def test_the_builder_is_deterministic(seeded):
    # Drawing again from the same seed (on the same empty register) gives exactly the stored data.
    builder = demo._Builder(random.Random(demo.SEED), demo._ethnicities())
    builder.used_ids = set()
    communes = [commune(plan.code) for plan in demo.COMMUNES]
    households, rows = builder.generate(communes)
    drawn = [
        (h.commune_id, h.code, h.village.name, h.head_name, h.classification, h.phone, h.search_text,
         [(m.full_name, m.sex, m.birth_year, m.birth_date, m.personal_id, m.relation) for m in members])
        for h, members in zip(households, rows, strict=True)
    ]
    stored = [
        (h.commune_id, h.code, h.village.name, h.head_name, h.classification, h.phone, h.search_text,
         [(m.full_name, m.sex, m.birth_year, m.birth_date, m.personal_id, m.relation)
          for m in sorted(h.members.all(), key=lambda m: m.pk)])
        for h in Household.objects.select_related("village").prefetch_related("members").order_by("pk")
    ]
    assert drawn == stored


# --- reviews -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_two_decided_years_in_every_commune_match_the_register(seeded):
    from reviews.models import HouseholdStatus, ReviewRound

    first, second = demo.review_years()
    for plan in demo.COMMUNES:
        unit = commune(plan.code)
        for year in (first, second):
            round_ = ReviewRound.objects.get(commune=unit, year=year, kind="periodic")
            assert round_.status == ReviewRound.Status.DECIDED
            assert round_.decision_number and round_.decision_signer
            assert round_.decision_date.year == year and 9 <= round_.decision_date.month <= 12
            assert not round_.surveys.exclude(status="surveyed").exists()
            for survey in round_.surveys.all():
                assert survey.surveyed_at.year == year and survey.standard_code == "2022-2025"
            assert round_.meetings.filter(held_on__year=year).count() == round_.meetings.count() > 0
            assert set(round_.events.values_list("action", flat=True)) >= {
                "opened", "surveyed", "meeting", "posted", "submitted", "approved", "decided"}
            assert {e.at.year for e in round_.events.all()} == {year}
    # Every household's official status of the last year is its classification on the register.
    statuses = {s.household_id: s.category for s in HouseholdStatus.objects.filter(year=second, round__kind="periodic")}
    households = dict(Household.objects.values_list("pk", "classification"))
    assert statuses == households
    # A survey's result follows from its facts (the classification is the services' own).
    survey = HouseholdStatus.objects.filter(year=second, survey__isnull=False).first().survey
    assert survey.category == HouseholdStatus.objects.get(survey=survey).category
    # Movements of every kind the demo promises.
    movements = set(HouseholdStatus.objects.values_list("movement", flat=True))
    assert {"unchanged", "escaped_above", "escaped_near", "newly_poor", "re_poor", "near_to_poor"} <= movements
    assert ReviewRound.objects.filter(kind="regular", status="decided").exists()
    # The classification changes are audited as review decisions, dated with them.
    events = AuditEvent.objects.filter(source=AuditEvent.Source.REVIEW)
    assert events.exists() and {e.at.year for e in events} <= {first, second}


@pytest.mark.django_db
def test_the_current_round_is_at_several_steps(seeded):
    from django.utils import timezone

    from reviews import services as review_services
    from reviews.models import ReviewRound, ScreeningRule

    today = timezone.localdate()
    current = {r.commune.code: r for r in ReviewRound.objects.filter(year=today.year).select_related("commune")}
    assert set(current) == {plan.code for plan in demo.COMMUNES}
    assert {r.status for r in current.values()} >= {"open", "submitted", "returned", "approved"}
    tathang = current["02794"]
    assert tathang.surveys.filter(status="pending").exists() and tathang.surveys.filter(status="surveyed").exists()
    lapantan = current["02791"]
    assert lapantan.posting_start and lapantan.complaints.filter(outcome="").exists()
    assert current["02752"].status == "submitted"  # waiting for huyen_muongkhuong
    reviewer = User.objects.get(username="huyen_muongkhuong")
    assert ReviewRound.objects.for_user(reviewer).filter(status="submitted").exists()
    assert current["02782"].review_comment and current["02782"].surveys.exclude(reviewer_comment="").exists()
    assert current["02701"].reviewed_by.username == "huyen_batxat"
    for round_ in current.values():
        assert all(e.at.date() <= today for e in round_.events.all())
        assert round_.posting_start is None or round_.posting_start <= today
    # Requests waiting for an answer: some still due, some late.
    officer = User.objects.get(username="xa_tathang")
    due = [r for r in review_services.due_requests(officer) if r.status == "open"]
    assert any(r.is_late for r in due) and any(not r.is_late for r in due)
    assert {r.kind for r in due} == {"add", "exit"}
    # Example Phiếu A rules, labelled as examples.
    rules = ScreeningRule.objects.all()
    assert rules.exists() and all(r.question.endswith("(ví dụ)") for r in rules)


@pytest.mark.django_db
def test_every_classification_on_the_register_is_a_decisions(seeded):
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from reports.models import Rollup
    from reviews.models import HouseholdStatus, ReviewRound
    from reviews.reconcile import reconcile_register

    first, _second = demo.review_years()
    # The lists in force before the demo's reviews were recognised by a decision of the year before.
    before = ReviewRound.objects.filter(year=first - 1, kind="periodic", status="decided")
    assert before.count() == len(demo.COMMUNES)
    assert set(HouseholdStatus.objects.filter(round__in=before).values_list("movement", flat=True)) == {"unchanged"}
    latest = {}
    for household_id, category in HouseholdStatus.objects.order_by(
            "household_id", "-year", "-decided_on", "-id").values_list("household_id", "category"):
        latest.setdefault(household_id, category)
    register = dict(Household.objects.values_list("pk", "classification"))
    assert register == {pk: latest.get(pk, "none") for pk in register}
    assert reconcile_register(Household=Household, HouseholdStatus=HouseholdStatus, AuditEvent=AuditEvent,
                              ContentType=ContentType, CommuneSummary=CommuneSummary) == 0
    # The overview's numbers are the official figures of the year.
    for summary in CommuneSummary.objects.filter(commune__households__isnull=False).distinct():
        figures = Rollup.objects.get(unit=summary.commune, year=timezone.localdate().year, stage="official")
        assert (summary.poor, summary.near_poor) == (figures.poor_households, figures.near_poor_households)
