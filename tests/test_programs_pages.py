"""The support pages: what each role sees and may do, bad input refused on its field with
nothing saved, exports that open, the path out on the household page, and query ceilings."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from core.models import AuditEvent
from programs import services
from programs.catalog import load_programs
from programs.models import (
    BudgetAllocation,
    EscapeRegistration,
    Helper,
    HelperAssignment,
    InfrastructureWork,
    Intervention,
    Loan,
    MemberProfile,
    Program,
    TrainingCourse,
    Visit,
)

from .review_world import decided_year

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
IN_DA = date(2025, 5, 1)  # within the National Target Program 2021–2025


@pytest.fixture
def programs(world):
    load_programs(Program)
    return {p.code: p for p in Program.objects.filter(province__isnull=True)}


@pytest.fixture
def decided(world, programs):
    """Tả Thàng's household officially poor last year, surveyed with POOR_FLAGS deprivations."""
    decided_year(world.officer, world.reviewer, world.household, TODAY.year - 1)
    world.household.refresh_from_db()
    return world


@pytest.fixture
def helper(world):
    return services.create_helper(actor=world.officer, commune=world.tathang, full_name="Vàng Seo Sử",
                                  position="party_member")


def panel(client, household, **headers):
    """The support panel of a household's page, as htmx fetches it (in English, whatever the catalogue holds)."""
    client.cookies["django_language"] = "en"
    return client.get(reverse("programs:household_panel", args=[household.pk]), HTTP_HX_REQUEST="true", **headers)


def counts():
    return (Intervention.objects.count(), Loan.objects.count(), EscapeRegistration.objects.count(),
            HelperAssignment.objects.count(), Visit.objects.count(), AuditEvent.objects.count())


def fmt(day: date) -> str:
    return day.strftime("%d/%m/%Y")


# --- the household page ----------------------------------------------------------------------


def test_household_page_shows_the_path_out_with_programs_received_and_not_yet(decided, client, programs):
    world = decided
    services.record_intervention(actor=world.officer, household=world.household, program=programs["BHYT-HN"],
                                 given_on=TODAY, kind="service", amount=0, funding_source="central",
                                 status="delivered")
    client.force_login(world.officer)
    assert 'data-testid="support-panel-slot"' in client.get(world.household.get_absolute_url()).content.decode()
    page = panel(client, world.household).content.decode()
    assert 'data-testid="path-out"' in page
    steps = page.split('data-testid="path-steps"')[1].split("</table>")[0]
    # Each deprivation of the survey is a row; health insurance received, sanitation credit not yet.
    assert "BHYT-HN · received" in steps
    assert "NHCS-NSVS · not yet" in steps
    assert "below the line" in page  # income 1,000,000 under the 1,500,000 rural line
    assert reverse("programs:health_insurance_new", args=[world.household.pk]) in page


def test_household_page_has_no_write_buttons_for_a_reviewer(decided, client):
    client.force_login(decided.reviewer)
    page = panel(client, decided.household).content.decode()
    assert 'data-testid="path-out"' in page
    assert 'data-testid="support-actions"' not in page


def test_household_page_query_count_is_bounded(decided, client, programs, helper, django_assert_max_num_queries):
    world = decided
    for _ in range(5):
        services.record_intervention(actor=world.officer, household=world.household, program=programs["DA5"],
                                     given_on=IN_DA, kind="cash", amount=1_000_000, funding_source="central",
                                     house_work="repair", status="delivered")
    services.record_loan(actor=world.officer, household=world.household, program=programs["NHCS-HN"],
                         principal=30_000_000, disbursed_on=TODAY, term_months=36, purpose="Mua bò")
    services.assign_helper(actor=world.officer, helper=helper, household=world.household, started_on=TODAY)
    services.record_visit(actor=world.officer, household=world.household, visited_on=TODAY, findings="Nhà dột")
    client.force_login(world.officer)
    with django_assert_max_num_queries(16):  # the panel comes after the page (htmx)
        assert client.get(world.household.get_absolute_url()).status_code == 200
    with django_assert_max_num_queries(40):
        response = panel(client, world.household)
    assert response.status_code == 200 and "<html" not in response.content.decode()
    assert "30.000.000" in response.content.decode() or "30,000,000" in response.content.decode()


# --- recording support ------------------------------------------------------------------------


def test_officer_records_a_health_insurance_card_for_a_member(world, client, programs):
    member = world.household.members.get(full_name="Vàng Thị Mỷ")
    client.force_login(world.officer)
    url = reverse("programs:health_insurance_new", args=[world.household.pk])
    response = client.post(url, {"program": programs["BHYT-HN"].pk, "member": member.pk, "given_on": fmt(TODAY),
                                 "status": "delivered", "amount": "0", "funding_source": "central"})
    assert response.status_code == 302
    card = Intervention.objects.get(household=world.household)
    assert (card.program.code, card.member, card.status) == ("BHYT-HN", member, "delivered")


def test_amount_above_the_housing_cap_is_refused_on_the_amount_field(world, client, programs):
    client.force_login(world.officer)
    before = counts()
    response = client.post(reverse("programs:intervention_new", args=[world.household.pk]), {
        "program": programs["DA5"].pk, "kind": "cash", "given_on": fmt(IN_DA), "status": "delivered",
        "quantity": "1", "amount": "45000000", "funding_source": "central", "house_work": "new"})
    assert response.status_code == 200
    assert "amount" in response.context["form"].errors
    assert "40.000.000" in response.context["form"].errors["amount"][0]
    assert counts() == before


def test_negative_amount_and_bad_date_are_refused_by_the_form(world, client, programs):
    client.force_login(world.officer)
    before = counts()
    response = client.post(reverse("programs:intervention_new", args=[world.household.pk]), {
        "program": programs["DA5"].pk, "kind": "cash", "given_on": "31/02/2025", "status": "delivered",
        "quantity": "1", "amount": "-5", "funding_source": "central", "house_work": "new"})
    assert response.status_code == 200
    assert {"amount", "given_on"} <= set(response.context["form"].errors)
    assert counts() == before


def test_training_place_without_course_or_program_names_the_program_field(world, client):
    client.force_login(world.officer)
    member = world.household.members.first()
    response = client.post(reverse("programs:training_place_new", args=[world.household.pk]), {
        "member": member.pk, "given_on": fmt(TODAY), "amount": "0", "funding_source": "central"})
    assert "program" in response.context["form"].errors
    assert not Intervention.objects.exists()


def test_training_place_in_a_course_enrols_the_member(world, client, programs):
    course = services.create_course(actor=world.officer, commune=world.tathang, program=programs["DA4.1"],
                                    trade="Trồng nấm", starts_on=IN_DA, ends_on=IN_DA + timedelta(days=30),
                                    cost=30_000_000, funding_source="central")
    member = world.household.members.first()
    client.force_login(world.officer)
    url = reverse("programs:training_place_new", args=[world.household.pk])
    assert client.post(url, {"member": member.pk, "course": course.pk, "funding_source": "central"}).status_code == 302
    assert list(course.learners.all()) == [member]
    # The same member again: refused on the course field, nothing added.
    response = client.post(url, {"member": member.pk, "course": course.pk, "funding_source": "central"})
    assert "course" in response.context["form"].errors
    assert Intervention.objects.filter(course=course).count() == 1


def test_loan_with_zero_principal_is_refused_on_the_principal(world, client, programs):
    client.force_login(world.officer)
    response = client.post(reverse("programs:loan_new", args=[world.household.pk]), {
        "program": programs["NHCS-HN"].pk, "principal": "0", "disbursed_on": fmt(TODAY), "term_months": "36",
        "purpose": "Mua bò"})
    assert "principal" in response.context["form"].errors
    assert not Loan.objects.exists()


def test_escape_registration_for_a_past_year_is_refused_on_the_year(decided, client):
    client.force_login(decided.officer)
    url = reverse("programs:register_escape", args=[decided.household.pk])
    response = client.post(url, {"target_year": str(TODAY.year - 1), "registered_on": fmt(TODAY)})
    assert "target_year" in response.context["form"].errors
    assert not EscapeRegistration.objects.exists()
    response = client.post(url, {"target_year": str(TODAY.year + 1), "registered_on": fmt(TODAY),
                                 "indicators_to_fix": ["latrine"], "target_income": "1600000"})
    assert response.status_code == 302
    registration = EscapeRegistration.objects.get()
    assert (registration.target_year, registration.indicators_to_fix) == (TODAY.year + 1, ["latrine"])


def test_helper_of_another_commune_cannot_be_chosen(world, client, helper):
    other = Helper.objects.create(commune=world.lapantan, full_name="Sùng A Lử", position="official")
    client.force_login(world.officer)
    url = reverse("programs:assign_helper", args=[world.household.pk])
    response = client.post(url, {"helper": other.pk, "started_on": fmt(TODAY)})
    assert "helper" in response.context["form"].errors
    assert client.post(url, {"helper": helper.pk, "started_on": fmt(TODAY)}).status_code == 302
    assert HelperAssignment.objects.get(household=world.household, ended_on=None).helper == helper


def test_visit_in_the_future_is_refused_on_its_date(world, client):
    client.force_login(world.officer)
    response = client.post(reverse("programs:visit_new", args=[world.household.pk]), {
        "visited_on": fmt(TODAY + timedelta(days=3)), "findings": "Nhà dột"})
    assert "visited_on" in response.context["form"].errors
    assert not Visit.objects.exists()


def test_reviewer_may_not_record_support_and_other_commune_is_not_found(world, client, programs):
    client.force_login(world.reviewer)
    url = reverse("programs:intervention_new", args=[world.household.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"program": programs["DA5"].pk}).status_code == 403
    client.force_login(world.officer)
    assert client.get(reverse("programs:intervention_new", args=[world.household_lapantan.pk])).status_code == 404
    assert not Intervention.objects.exists()


def test_cancel_needs_a_reason(world, client, programs):
    support = services.record_intervention(actor=world.officer, household=world.household, program=programs["DA5"],
                                           given_on=IN_DA, kind="cash", amount=1_000_000, funding_source="central",
                                           house_work="repair")
    client.force_login(world.officer)
    url = reverse("programs:intervention_cancel", args=[support.pk])
    assert "reason" in client.post(url, {"reason": ""}).context["form"].errors
    assert client.post(url, {"reason": "Trùng"}).status_code == 302
    support.refresh_from_db()
    assert support.status == "cancelled"


def test_officer_sets_a_members_disability_and_low_income_application(world, client):
    member = world.household.members.filter(is_archived=False).order_by("pk").first()
    url = reverse("programs:member_profiles", args=[world.household.pk])
    client.force_login(world.reviewer)
    assert client.get(url).status_code == 403
    assert client.post(url, {"member": member.pk, f"m{member.pk}-has_disability": "on"}).status_code == 403
    client.force_login(world.officer)
    assert client.get(reverse("programs:member_profiles", args=[world.household_lapantan.pk])).status_code == 404
    assert url in panel(client, world.household).content.decode()
    page = client.get(url)
    assert page.status_code == 200 and member.full_name in page.content.decode()
    # A date in the future: refused on its field, nothing saved.
    response = client.post(url, {"member": member.pk, f"m{member.pk}-has_disability": "on",
                                 f"m{member.pk}-low_income_applied_on": fmt(TODAY + timedelta(days=2))})
    assert response.status_code == 200
    assert "low_income_applied_on" in response.context["form"].errors
    assert not MemberProfile.objects.exists()
    response = client.post(url, {"member": member.pk, f"m{member.pk}-has_disability": "on",
                                 f"m{member.pk}-low_income_applied_on": fmt(TODAY)})
    assert response.status_code == 302
    profile = MemberProfile.objects.get(member=member)
    assert (profile.has_disability, profile.low_income_applied_on) == (True, TODAY)


def test_officer_ends_a_helpers_assignment_not_before_it_started(world, client, helper):
    assignment = services.assign_helper(actor=world.officer, helper=helper, household=world.household,
                                        started_on=TODAY - timedelta(days=10))
    url = reverse("programs:assignment_end", args=[assignment.pk])
    client.force_login(world.reviewer)
    assert client.get(url).status_code == 403
    assert client.post(url, {"ended_on": fmt(TODAY)}).status_code == 403
    client.force_login(world.officer)
    assert url in panel(client, world.household).content.decode()
    response = client.post(url, {"ended_on": fmt(TODAY - timedelta(days=20))})
    assert response.status_code == 200
    assert "ended_on" in response.context["form"].errors
    assert "ended_on" in client.post(url, {"ended_on": "31/02/2025"}).context["form"].errors
    assignment.refresh_from_db()
    assert assignment.ended_on is None
    assert client.post(url, {"ended_on": fmt(TODAY), "reason": "Chuyển công tác"}).status_code == 302
    assignment.refresh_from_db()
    assert (assignment.ended_on, assignment.end_reason) == (TODAY, "Chuyển công tác")
    # Ended already: said on the date field.
    assert "ended_on" in client.post(url, {"ended_on": fmt(TODAY)}).context["form"].errors


def test_officer_withdraws_a_registration_with_a_reason(decided, client):
    world = decided
    registration = services.register_escape(actor=world.officer, household=world.household,
                                            target_year=TODAY.year + 1, registered_on=TODAY)
    url = reverse("programs:registration_withdraw", args=[registration.pk])
    client.force_login(world.reviewer)
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "Trùng"}).status_code == 403
    client.force_login(world.officer)
    assert url in panel(client, world.household).content.decode()
    assert "reason" in client.post(url, {"reason": "  "}).context["form"].errors
    registration.refresh_from_db()
    assert not registration.is_archived
    assert client.post(url, {"reason": "Đăng ký trùng"}).status_code == 302
    registration.refresh_from_db()
    assert (registration.is_archived, registration.archived_reason) == (True, "Đăng ký trùng")
    assert url not in panel(client, world.household).content.decode()
    # Withdrawn already: refused, shown on the form.
    response = client.post(url, {"reason": "Lại"})
    assert response.status_code == 200 and response.context["form"].errors


# --- programs and exports -----------------------------------------------------------------------


def test_program_page_lists_eligible_households_not_yet_reached(decided, client, programs):
    client.force_login(decided.officer)
    url = reverse("programs:program", args=[programs["DA5"].pk])
    assert decided.household.head_name in client.get(url).content.decode()
    services.record_intervention(actor=decided.officer, household=decided.household, program=programs["DA5"],
                                 given_on=IN_DA, kind="cash", amount=40_000_000, funding_source="central",
                                 house_work="new", status="delivered")
    assert decided.household.head_name not in client.get(url).content.decode()


def test_a_large_area_lists_one_commune_at_a_time_but_exports_all(decided, client, programs, monkeypatch):
    from households import summaries
    from programs import selectors

    for commune in (decided.tathang, decided.lapantan):
        summaries.refresh_commune(commune.pk)
    monkeypatch.setattr(selectors, "LARGE_AREA", 0)  # any household makes the area "large"
    client.force_login(decided.province_admin)
    url = reverse("programs:program", args=[programs["DA5"].pk])
    page = client.get(url)
    assert page.context["large"] > 0 and list(page.context["page"]) == []
    assert 'data-testid="choose-commune"' in page.content.decode()
    narrowed = client.get(url, {"commune": decided.household.commune_id})
    assert not narrowed.context["large"]
    assert decided.household.head_name in narrowed.content.decode()
    exported = client.get(reverse("programs:program_export", args=[programs["DA5"].pk]) + "?format=csv")
    assert decided.household.code in exported.content.decode("utf-8-sig")
    path = client.get(reverse("programs:path_out"))
    assert path.context["large"] > 0 and path.context["count"] == 0
    assert client.get(reverse("programs:path_out"), {"commune": decided.household.commune_id}).context["count"] > 0


def test_eligible_export_opens_and_escapes_formulas(decided, client, programs):
    household = decided.household
    household.head_name = "=HYPERLINK(\"x\")"
    household.save(update_fields=["head_name"])
    client.force_login(decided.officer)
    url = reverse("programs:program_export", args=[programs["DA5"].pk])
    response = client.get(url)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][2] == "Mã hộ"
    assert rows[2][2] == household.code and rows[2][4] == "'=HYPERLINK(\"x\")"
    text = client.get(url + "?format=csv").content.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text)))[1][4] == "'=HYPERLINK(\"x\")"


def test_program_list_shows_codes_caps_and_groups(world, client, programs):
    client.force_login(world.reviewer)
    client.cookies["django_language"] = "en"
    page = client.get(reverse("programs:list")).content.decode()
    assert "BHYT-HN" in page and "Poor household" in page
    assert "40,000,000" in page or "40.000.000" in page


# --- commune lists ----------------------------------------------------------------------------


def test_lists_answer_within_a_query_ceiling(decided, client, helper, django_assert_max_num_queries):
    client.force_login(decided.officer)
    for name in ("programs:path_out", "programs:without_helper", "programs:follow_ups", "programs:registrations",
                 "programs:helpers", "programs:courses", "programs:job_fairs", "programs:projects",
                 "programs:works", "programs:budgets", "programs:list"):
        with django_assert_max_num_queries(40):
            assert client.get(reverse(name)).status_code == 200, name
    with django_assert_max_num_queries(40):
        page = client.get(reverse("programs:path_out") + "?order=closest").content.decode()
    assert decided.household.code in page


def test_without_helper_lists_the_poor_household_until_a_helper_is_assigned(decided, client, helper):
    client.force_login(decided.officer)
    url = reverse("programs:without_helper")
    assert decided.household.head_name in client.get(url).content.decode()
    services.assign_helper(actor=decided.officer, helper=helper, household=decided.household, started_on=TODAY)
    assert decided.household.head_name not in client.get(url).content.decode()


# --- activities and budgets --------------------------------------------------------------------


def test_course_created_then_learners_enrolled(world, client, programs):
    client.force_login(world.officer)
    response = client.post(reverse("programs:course_new"), {
        "program": programs["DA4.1"].pk, "trade": "Trồng nấm", "starts_on": fmt(IN_DA),
        "ends_on": fmt(IN_DA - timedelta(days=1)), "cost": "0", "funding_source": "central"})
    assert "ends_on" in response.context["form"].errors and not TrainingCourse.objects.exists()
    response = client.post(reverse("programs:course_new"), {
        "program": programs["DA4.1"].pk, "trade": "Trồng nấm", "starts_on": fmt(IN_DA),
        "ends_on": fmt(IN_DA + timedelta(days=20)), "cost": "10000000", "funding_source": "central"})
    course = TrainingCourse.objects.get()
    assert response.status_code == 302 and course.commune == world.tathang
    member = world.household.members.first()
    client.post(reverse("programs:course", args=[course.pk]), {"action": "enrol", "learners": [member.pk]})
    assert list(course.learners.all()) == [member]


def test_work_status_and_cost_updated(world, client):
    client.force_login(world.officer)
    client.post(reverse("programs:work_new"), {"name": "Đường thôn", "category": "roads", "year": TODAY.year,
                                               "status": "planned", "estimated_cost": "500000000",
                                               "funding_source": "central"})
    work = InfrastructureWork.objects.get()
    response = client.post(reverse("programs:work", args=[work.pk]), {"status": "done", "estimated_cost": "-1"})
    assert "estimated_cost" in response.context["form"].errors
    client.post(reverse("programs:work", args=[work.pk]), {"status": "done", "estimated_cost": "500000000",
                                                           "actual_cost": "480000000"})
    work.refresh_from_db()
    assert (work.status, work.actual_cost) == ("done", 480_000_000)


def test_budget_allocated_above_and_disbursed_by_the_commune(world, client, programs):
    client.force_login(world.officer)
    assert client.get(reverse("programs:budget_new")).status_code == 403
    client.force_login(world.reviewer)
    response = client.post(reverse("programs:budget_new"), {
        "commune": "02701", "program": programs["DA5"].pk, "year": 2025, "funding_source": "central",
        "allocated": "100000000"})
    assert "commune" in response.context["form"].errors  # Y Tý is in another district
    client.post(reverse("programs:budget_new"), {
        "commune": "02794", "program": programs["DA5"].pk, "year": 2025, "funding_source": "central",
        "allocated": "100000000"})
    allocation = BudgetAllocation.objects.get()
    assert client.get(reverse("programs:budget_disburse", args=[allocation.pk])).status_code == 403
    client.force_login(world.officer)
    url = reverse("programs:budget_disburse", args=[allocation.pk])
    assert "amount" in client.post(url, {"amount": "150000000"}).context["form"].errors
    client.post(url, {"amount": "40000000"})
    allocation.refresh_from_db()
    assert allocation.disbursed == 40_000_000 and allocation.rate == 0.4
    assert "40%" in client.get(reverse("programs:budgets")).content.decode()


# --- the report ---------------------------------------------------------------------------------


def test_report_prints_and_exports_for_the_unit_only_inside_the_area(world, client, programs):
    services.record_intervention(actor=world.officer, household=world.household, program=programs["DA5"],
                                 given_on=IN_DA, kind="cash", amount=40_000_000, funding_source="central",
                                 house_work="new", status="delivered")
    client.force_login(world.reviewer)
    url = reverse("programs:report", args=[world.district.pk, 2025])
    page = client.get(url)
    assert page.status_code == 200 and page.context["report"].households_reached == 1
    response = client.get(reverse("programs:report_export", args=[world.district.pk, 2025]))
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [cell for row in sheet.iter_rows(values_only=True) for cell in row if cell is not None]
    assert 40_000_000 in values and any(isinstance(v, str) and v.startswith("DA5") for v in values)
    assert client.get(reverse("programs:report", args=[world.district2.pk, 2025])).status_code == 404
    assert client.get(reverse("programs:report_home")).status_code == 302


def test_superuser_names_the_commune_of_a_job_fair_and_bad_figures_are_refused(world, client):
    from programs.models import JobFair

    client.force_login(world.superuser)
    url = reverse("programs:job_fair_new")
    values = {"commune": "99999", "name": "Phiên giao dịch việc làm", "held_on": fmt(TODAY), "participants": "50",
              "placements": "60"}
    form = client.post(url, values).context["form"]
    assert "commune" in form.errors and not JobFair.objects.exists()
    form = client.post(url, {**values, "commune": "2794"}).context["form"]
    assert list(form.errors) == ["placements"] and not JobFair.objects.exists()
    assert client.post(url, {**values, "commune": "2794", "placements": "20"}).status_code == 302
    assert JobFair.objects.get().commune == world.tathang


# --- on the demo (kept last: the demo is built once for these tests and rolled back after them) ----------


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import translation

    with django_db_blocker.unblock(), translation.override("en"), transaction.atomic():
        call_command("seed_demo", stdout=io.StringIO())
        yield
        transaction.set_rollback(True)


@pytest.fixture
def demo_users(seeded, db):
    from core.models import User

    return {u.username: u for u in User.objects.filter(username__in=["xa_tathang", "huyen_muongkhuong"])}


def test_demo_path_out_on_the_household_page_matches_its_survey(demo_users, client,
                                                                django_assert_max_num_queries):
    from programs import selectors

    officer = demo_users["xa_tathang"]
    paths = [p for p in selectors.path_out_list(officer) if p.steps and p.category == "poor"]
    assert paths
    path = paths[0]
    client.force_login(officer)
    with django_assert_max_num_queries(40):
        page = panel(client, path.household).content.decode()
    steps = page.split('data-testid="path-steps"')[1].split("</table>")[0]
    assert steps.count("<tr>") == len(path.steps) + 1  # a row per deprivation, and the header
    for step in path.steps:
        assert step.name in steps
        for offer in step.offers:
            assert f">{offer.program.code} · " in steps


@pytest.mark.parametrize("username", ["xa_tathang", "huyen_muongkhuong"])
def test_demo_lists_stay_within_a_query_ceiling(demo_users, client, username, django_assert_max_num_queries):
    user = demo_users[username]
    client.force_login(user)
    da5 = Program.objects.get(code="DA5", province=None)
    urls = [reverse(name) for name in ("programs:path_out", "programs:without_helper", "programs:follow_ups",
                                       "programs:registrations", "programs:courses", "programs:budgets",
                                       "programs:helpers", "programs:works")]
    urls += [reverse("programs:path_out") + "?order=closest", reverse("programs:program", args=[da5.pk])]
    for url in urls:
        with django_assert_max_num_queries(40):
            response = client.get(url)
        assert response.status_code == 200, url


def test_demo_report_matches_the_selector_and_exports(demo_users, client):
    from programs import selectors

    reviewer = demo_users["huyen_muongkhuong"]
    year = timezone.localdate().year - 1
    client.force_login(reviewer)
    response = client.get(reverse("programs:report", args=[reviewer.unit_id, year]))
    expected = selectors.support_report(reviewer.unit, year)
    assert response.context["report"].households_reached == expected.households_reached > 0
    book = load_workbook(io.BytesIO(client.get(reverse("programs:report_export",
                                                       args=[reviewer.unit_id, year])).content))
    values = [c for row in book.active.iter_rows(values_only=True) for c in row if c is not None]
    assert expected.amount in values and expected.loans["outstanding"] in values
