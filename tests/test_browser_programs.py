"""Case work in headless Chromium on the demo: Tả Thàng's officer opens a poor household, reads its
path out, records a health-insurance card and a training place, registers the household to escape
poverty next year and assigns it a helper; each step is checked on the page and in the database."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.models import User
from programs import selectors
from programs.models import CourseLearner, EscapeRegistration, HelperAssignment, Intervention, Program, TrainingCourse

from .conftest import browser_page  # noqa: F401 - the fixture


def poor_household_with_a_path(officer):
    """A poor household of the officer's commune with a survey behind its path out and no helper yet."""
    without = {h.pk for h in selectors.households_without_helper(officer)}
    for path in selectors.path_out_list(officer):
        if path.household.pk in without and path.category == "poor" and path.steps:
            return path
    raise AssertionError("the demo has no poor household without a helper")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_officer_works_a_poor_household_towards_leaving_poverty(live_server, browser_page):  # noqa: F811
    call_command("seed_demo", verbosity=0)
    officer = User.objects.get(username="xa_tathang")
    path = poor_household_with_a_path(officer)
    household = path.household
    today = timezone.localdate()
    if not TrainingCourse.objects.filter(commune=household.commune, is_archived=False).exists():
        # Test data: the demo holds a course only while DA4 of the 2021–2025 program runs.
        TrainingCourse.objects.create(commune=household.commune, program=Program.objects.get(code="DA4.1"),
                                      trade="Trồng nấm", starts_on=today, ends_on=today + timedelta(days=60),
                                      funding_source="central")
    member = household.members.filter(is_archived=False).order_by("pk").first()

    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "xa_tathang")
    page.fill("#id_password", "demo12345")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    detail = f"{live_server.url}/households/{household.pk}/"
    page.goto(detail)

    # The path out: each deprivation of its survey, with the programs that address it.
    page.wait_for_selector("[data-testid=path-steps]")  # the panel arrives after the page
    steps = page.inner_text("[data-testid=path-steps]")
    for step in path.steps:
        assert step.name in steps

    # A health-insurance card for the head.
    page.click(f"a[href='/programs/households/{household.pk}/health-insurance/']")
    page.select_option("#id_program", str(Program.objects.get(code="BHYT-HN", province=None).pk))
    page.select_option("#id_member", str(member.pk))
    page.click("[data-testid=support-form] button[type=submit]")
    page.wait_for_selector("[data-testid=support-actions]")
    card = Intervention.objects.get(household=household, program__code="BHYT-HN", member=member,
                                    created_by=officer)
    assert card.status == "delivered" and card.kind == "service"
    assert "BHYT-HN" in page.inner_text("[data-testid=support-table]")

    # A training place: the member enrolled in the commune's course.
    page.click(f"a[href='/programs/households/{household.pk}/training/']")
    page.select_option("#id_member", str(member.pk))
    page.select_option("#id_course", index=1)
    page.click("[data-testid=support-form] button[type=submit]")
    page.wait_for_selector("[data-testid=support-actions]")
    place = CourseLearner.objects.get(member=member, course__commune=household.commune)
    assert Intervention.objects.filter(household=household, member=member, kind="training",
                                       course=place.course).exists()

    # Registered to escape poverty next year, closing the deprivations of its path out.
    page.click(f"a[href='/programs/households/{household.pk}/escape/']")
    assert page.input_value("#id_target_year") == str(today.year + 1)
    page.click("[data-testid=support-form] button[type=submit]")
    page.wait_for_selector("[data-testid=support-actions]")
    registration = EscapeRegistration.objects.get(household=household, target_year=today.year + 1)
    assert set(registration.indicators_to_fix) == {s.code for s in path.steps}
    assert str(today.year + 1) in page.inner_text("[data-testid=registrations]")

    # A helper follows it from today.
    page.click(f"a[href='/programs/households/{household.pk}/helper/']")
    page.select_option("#id_helper", index=1)
    page.click("[data-testid=support-form] button[type=submit]")
    page.wait_for_selector("[data-testid=support-actions]")
    assignment = HelperAssignment.objects.get(household=household, ended_on=None)
    assert assignment.started_on == today
    assert assignment.helper.full_name in page.inner_text("[data-testid=current-helper]")
