"""The review's pages, through the test client: each role's view, a whole round, refusals, scope, query counts."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from households.models import Household
from reviews import services
from reviews.models import Complaint, HouseholdStatus, Request, ReviewRound, ScreeningRule, Survey, VillageMeeting

from .review_world import POOR_FLAGS, build_reviews, decided_year
from .test_browser import browser_page  # noqa: F401 - a fixture
from .world import make_household

TODAY = timezone.localdate()


def d(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).strftime("%d/%m/%Y")


@pytest.fixture
def as_user(client):
    """Sign a user in, with English pages so the assertions read the same whatever the catalogue holds."""

    def _as(user):
        client.logout()
        client.force_login(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return _as


def survey_data(survey, *, income="", score_a="", deprived=(), screening=None, **extra):
    data = {"expected_version": survey.version, "income": income, "score_a": score_a, "demographic_change": ""}
    for code in survey.round.standard.indicators.values_list("code", flat=True):
        if code in deprived:
            data[code] = "on"
    for number, answer in (screening or {}).items():
        data[f"q{number}"] = answer
    data.update(extra)
    return data


def survey_url(survey, name="reviews:survey"):
    return reverse(name, args=[survey.round_id, survey.pk])


# --- each role's pages -------------------------------------------------------------------


@pytest.fixture
def reviewed(world):
    world.reviews = build_reviews(world)
    world.decided_round = decided_year(world.officer, world.reviewer, world.household,
                                       world.reviews[world.tathang.pk].round.year - 1)
    return world


@pytest.mark.parametrize("role", ["officer", "reviewer", "province_admin", "superuser"])
def test_every_role_reads_the_pages_of_its_area(reviewed, as_user, role):
    world = reviewed
    client = as_user(getattr(world, role))
    review = world.reviews[world.tathang.pk]
    decided = world.decided_round
    urls = [
        reverse("reviews:rounds"), reverse("reviews:requests"), review.round.get_absolute_url(),
        survey_url(review.survey), reverse("reviews:posting_print", args=[review.round.pk]),
        reverse("reviews:meeting_minutes", args=[review.round.pk, review.meeting.village_id]),
        reverse("reviews:decision_print", args=[decided.pk]),
        reverse("reviews:certificate", args=[decided.pk, world.household.pk]),
        world.household.get_absolute_url(),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(review.round.get_absolute_url()).content.decode()
    assert "Giàng A Páo" in page and world.reviews[world.tathang.pk].survey.explanation in page


def test_the_decision_printout_holds_its_lists_and_the_certificate_its_household(reviewed, as_user):
    world = reviewed
    client = as_user(world.officer)
    page = client.get(reverse("reviews:decision_print", args=[world.decided_round.pk])).content.decode()
    assert "2025/QĐ-UBND" in page and "Giàng A Páo" in page and "Chủ tịch UBND xã" in page
    assert "SOCIALIST REPUBLIC OF VIETNAM" in page
    cert = client.get(reverse("reviews:certificate", args=[world.decided_round.pk, world.household.pk]))
    assert "CERTIFICATE OF POOR HOUSEHOLD" in cert.content.decode() and "Vàng Thị Mỷ" in cert.content.decode()


def test_no_certificate_for_a_household_that_is_neither_poor_nor_near_poor(reviewed, as_user):
    world = reviewed
    other = make_household(world.officer, world.tathang, world.village, "Lò Văn Tâm", code="0009")
    round_ = decided_year(world.officer, world.reviewer, other, world.decided_round.year - 1)
    assert HouseholdStatus.objects.filter(round=round_, household=other, category="none").exists()
    client = as_user(world.officer)
    assert client.get(reverse("reviews:certificate", args=[round_.pk, other.pk])).status_code == 404
    undecided = world.reviews[world.tathang.pk].round
    assert client.get(reverse("reviews:certificate", args=[undecided.pk, world.household.pk])).status_code == 404
    assert client.get(reverse("reviews:decision_print", args=[undecided.pk])).status_code == 404


def test_household_page_shows_its_surveys_and_official_statuses(reviewed, as_user, django_assert_max_num_queries):
    world = reviewed
    client = as_user(world.officer)
    with django_assert_max_num_queries(16):
        response = client.get(world.household.get_absolute_url())
    panel = response.content.decode()
    assert 'data-testid="review-panel"' in panel
    assert "2025/QĐ-UBND" in panel and "Unchanged" in panel
    assert world.reviews[world.tathang.pk].survey.explanation in panel


def test_a_reviewer_never_sees_a_round_outside_their_unit(reviewed, as_user):
    world = reviewed
    client = as_user(world.reviewer)
    outside = world.reviews[world.yty.pk]
    assert client.get(outside.round.get_absolute_url()).status_code == 404
    assert client.get(survey_url(outside.survey)).status_code == 404
    assert client.post(reverse("reviews:round_approve", args=[outside.round.pk])).status_code == 404
    listed = client.get(reverse("reviews:rounds")).content.decode()
    assert "Y Tý" not in listed and "Tả Thàng" in listed


def test_a_province_administrator_reads_but_changes_nothing(reviewed, as_user):
    world = reviewed
    client = as_user(world.province_admin)
    review = world.reviews[world.tathang.pk]
    page = client.get(survey_url(review.survey)).content.decode()
    assert "You may read this survey but not change it." in page and "hx-post" not in page
    version = review.survey.version
    assert client.post(survey_url(review.survey), survey_data(review.survey, income="10")).status_code == 403
    assert client.post(reverse("reviews:round_submit", args=[review.round.pk])).status_code == 403
    assert client.post(reverse("reviews:round_approve", args=[review.round.pk])).status_code == 403
    review.survey.refresh_from_db()
    assert review.survey.version == version


def test_an_officer_may_not_approve_their_own_list(reviewed, as_user):
    world = reviewed
    client = as_user(world.officer)
    assert client.post(reverse("reviews:round_approve", args=[world.reviews[world.tathang.pk].round.pk])
                       ).status_code == 403


def test_requests_show_due_date_days_left_and_late_ones(world, as_user):
    late = make_household(world.officer, world.tathang, world.village, "Lý Seo Lùng", code="0002")
    services.create_request(actor=world.officer, household=late, kind=Request.Kind.ADD,
                            received_on=TODAY - timedelta(days=20), channel=Request.Channel.IN_PERSON)
    services.create_request(actor=world.officer, household=world.household, kind=Request.Kind.EXIT,
                            received_on=TODAY - timedelta(days=3), channel=Request.Channel.POST)
    page = as_user(world.officer).get(reverse("reviews:requests")).content.decode()
    assert (TODAY - timedelta(days=20) + timedelta(days=15)).strftime("%d/%m/%Y") in page
    assert "late by 5 days" in page and "12 days left" in page


def test_an_officer_records_and_refuses_a_request_through_the_pages(world, as_user):
    client = as_user(world.officer)
    response = client.post(reverse("reviews:request_new"), {
        "household_code": "0001", "kind": "exit", "received_on": d(1), "channel": "in_person",
        "reason": "Có thu nhập ổn định"})
    assert response.status_code == 302
    request = Request.objects.get(household=world.household)
    response = client.post(reverse("reviews:request_refuse", args=[request.pk]), {"answer": "", "answered_on": d(0)})
    assert response.status_code == 200 and response.context["form"].errors["answer"]
    response = client.post(reverse("reviews:request_refuse", args=[request.pk]),
                           {"answer": "Hộ vẫn thiếu hụt 4 chỉ số.", "answered_on": d(0)})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == Request.Status.REFUSED


def test_a_request_for_a_household_of_another_commune_is_refused_on_the_field(world, as_user):
    client = as_user(world.officer)
    response = client.post(reverse("reviews:request_new"), {
        "household_code": "9999", "kind": "add", "received_on": d(1), "channel": "in_person"})
    assert response.status_code == 200 and response.context["form"].errors["household_code"]
    assert not Request.objects.exists()


# --- the whole round through the pages ------------------------------------------------------------------


def test_a_whole_round_through_the_pages(world, as_user):
    officer, reviewer = world.officer, world.reviewer
    asker = make_household(officer, world.tathang, world.village, "Lý Seo Lùng", code="0002")
    client = as_user(officer)

    # A Mẫu 01 request, then the round: the poor household and the one that asked.
    assert client.post(reverse("reviews:request_new"), {
        "household_code": "0002", "kind": "add", "received_on": d(12), "channel": "village_head",
        "reason": "Ốm đau kéo dài"}).status_code == 302
    response = client.post(reverse("reviews:round_new"), {"year": TODAY.year, "kind": "periodic", "month": ""})
    round_ = ReviewRound.objects.get(commune=world.tathang, year=TODAY.year)
    assert response.status_code == 302 and response["Location"] == round_.get_absolute_url()
    ScreeningRule.objects.create(standard=round_.standard, number=1, question="Hộ có ô tô?", stops=True)
    poor = round_.surveys.get(household=world.household)
    asked = round_.surveys.get(household=asker)
    assert asked.origin == Survey.Origin.REQUEST

    # Surveys: the live result first, then the saved one.
    preview = client.post(survey_url(poor, "reviews:survey_preview"),
                          survey_data(poor, income="1000000", deprived=POOR_FLAGS), HTTP_HX_REQUEST="true")
    assert preview.status_code == 200 and "→ poor household" in preview.content.decode()
    assert 'id="classification"' in preview.content.decode()
    assert client.post(survey_url(poor), survey_data(poor, income="1000000", deprived=POOR_FLAGS)).status_code == 302
    page = client.get(survey_url(asked)).content.decode()
    assert "Phiếu A" in page and "Hộ có ô tô?" in page and "Việc làm" in page
    assert client.post(survey_url(asked), survey_data(asked, income="1200000", deprived=("telecom",),
                                                      screening={1: "no"})).status_code == 302
    asked.refresh_from_db()
    assert asked.category == "near_poor" and asked.screening == {"1": False}

    # The village meeting: the near-poor result gets too few votes and goes back.
    meeting_url = reverse("reviews:meeting", args=[round_.pk, world.village.pk])
    response = client.post(meeting_url, {"held_on": d(9), "attendance": "30", "chaired_by": "Vàng Seo Sử",
                                         f"votes_{poor.pk}": "20", f"votes_{asked.pk}": "10"})
    assert response.status_code == 302
    asked.refresh_from_db()
    assert asked.status == Survey.Status.RESURVEY
    asked_data = survey_data(asked, income="1300000", deprived=("telecom",), screening={1: "no"})
    assert client.post(survey_url(asked), asked_data).status_code == 302
    response = client.post(meeting_url, {"held_on": d(8), "attendance": "28", "chaired_by": "Vàng Seo Sử",
                                         "secretary": "Lò Thị Hoa", f"votes_{poor.pk}": "20",
                                         f"votes_{asked.pk}": "19"})
    assert response.status_code == 302
    minutes = client.get(reverse("reviews:meeting_minutes", args=[round_.pk, world.village.pk]))
    assert "Lò Thị Hoa" in minutes.content.decode()

    # Posting and a complaint, re-checked.
    assert client.post(reverse("reviews:posting", args=[round_.pk]),
                       {"posting_start": d(7), "posting_days": "3"}).status_code == 302
    assert client.post(reverse("reviews:complaint_new", args=[round_.pk]), {
        "complainant": "Lý Thị Dung", "received_on": d(6), "household": asker.pk,
        "content": "Hộ này có xe máy mới."}).status_code == 302
    complaint = Complaint.objects.get(round=round_)
    page = client.get(round_.get_absolute_url()).content.decode()
    assert "1 complaint(s) still open." in page
    assert client.post(reverse("reviews:complaint_resolve", args=[round_.pk, complaint.pk]), {
        "recheck_on": d(2), "recheck_findings": "Xe máy đi mượn.", "outcome": "dismissed"}).status_code == 302

    # Submit, returned with a comment on a household, fixed, submitted again.
    assert client.post(reverse("reviews:round_submit", args=[round_.pk])).status_code == 302
    round_.refresh_from_db()
    assert round_.status == ReviewRound.Status.SUBMITTED
    client = as_user(reviewer)
    queue = client.get(reverse("reviews:rounds"))
    assert [r.pk for r in queue.context["queue"]] == [round_.pk]
    response = client.post(reverse("reviews:round_return", args=[round_.pk]), {
        "comment": "Kiểm tra lại thu nhập hộ 0002.", f"note_{asked.pk}": "Thu nhập ghi thiếu lương."})
    assert response.status_code == 302
    round_.refresh_from_db()
    asked.refresh_from_db()
    assert round_.status == ReviewRound.Status.RETURNED and asked.reviewer_comment == "Thu nhập ghi thiếu lương."
    client = as_user(officer)
    page = client.get(round_.get_absolute_url()).content.decode()
    assert "Kiểm tra lại thu nhập hộ 0002." in page and "Thu nhập ghi thiếu lương." in page
    asked_data = survey_data(asked, income="1400000", deprived=("telecom",), screening={1: "no"})
    assert client.post(survey_url(asked), asked_data).status_code == 302
    assert client.post(reverse("reviews:round_submit", args=[round_.pk])).status_code == 302

    # Approved above the commune; the decision makes the statuses official.
    client = as_user(reviewer)
    assert client.post(reverse("reviews:round_approve", args=[round_.pk]), {"comment": "Đồng ý."}).status_code == 302
    client = as_user(officer)
    response = client.post(reverse("reviews:round_decision", args=[round_.pk]), {
        "decision_number": "45/QĐ-UBND", "decision_date": d(0), "decision_signer": "Chủ tịch UBND xã"})
    assert response.status_code == 302
    round_.refresh_from_db()
    assert round_.status == ReviewRound.Status.DECIDED
    statuses = {s.household_id: s for s in HouseholdStatus.objects.filter(round=round_)}
    assert statuses[world.household.pk].category == "poor"
    assert statuses[asker.pk].category == "near_poor" and statuses[asker.pk].movement == "newly_near"
    page = client.get(reverse("reviews:decision_print", args=[round_.pk])).content.decode()
    assert "45/QĐ-UBND" in page and "Lý Seo Lùng" in page
    cert = client.get(reverse("reviews:certificate", args=[round_.pk, asker.pk]))
    assert cert.status_code == 200 and "CERTIFICATE OF NEAR-POOR HOUSEHOLD" in cert.content.decode()
    events = [e.action for e in round_.events.all()]
    assert events.count("submitted") == 2 and "returned" in events and "decided" in events


# --- refusals: shown on the page, nothing written ----------------------------------------------------------


@pytest.fixture
def open_round(world):
    round_ = services.open_round(actor=world.officer, commune=world.tathang, year=TODAY.year)
    return round_, round_.surveys.get(household=world.household)


def test_negative_income_is_refused_on_its_field_and_nothing_is_saved(world, as_user, open_round):
    round_, survey = open_round
    response = as_user(world.officer).post(survey_url(survey), survey_data(survey, income="-5", deprived=POOR_FLAGS))
    assert response.status_code == 200 and response.context["form"].errors["income"]
    survey.refresh_from_db()
    assert survey.status == Survey.Status.PENDING and survey.income is None and survey.version == 1


def test_both_income_and_score_a_is_refused_by_the_service_on_the_income_field(world, as_user, open_round):
    round_, survey = open_round
    response = as_user(world.officer).post(survey_url(survey), survey_data(survey, income="1000000", score_a="120"))
    # The service classifies in Vietnamese (the stored explanation's language), so its message is too.
    assert response.status_code == 200 and response.context["form"].errors["income"]
    survey.refresh_from_db()
    assert survey.category == ""


def test_the_preview_names_the_field_at_fault(world, as_user, open_round):
    round_, survey = open_round
    response = as_user(world.officer).post(survey_url(survey, "reviews:survey_preview"), survey_data(survey))
    assert response.status_code == 200
    assert "Income per person per month (VND)" in response.content.decode()
    survey.refresh_from_db()
    assert survey.version == 1


def test_phieu_a_and_phieu_b_are_saved_together_or_not_at_all(world, as_user):
    asker = make_household(world.officer, world.tathang, world.village, "Lý Seo Lùng", code="0002")
    services.create_request(actor=world.officer, household=asker, kind=Request.Kind.ADD,
                            received_on=TODAY - timedelta(days=2), channel=Request.Channel.IN_PERSON)
    round_ = services.open_round(actor=world.officer, commune=world.tathang, year=TODAY.year)
    ScreeningRule.objects.create(standard=round_.standard, number=1, question="Hộ có ô tô?", stops=True)
    survey = round_.surveys.get(household=asker)
    client = as_user(world.officer)
    response = client.post(survey_url(survey), survey_data(survey, screening={1: "no"}))  # Phiếu B incomplete
    assert response.status_code == 200 and response.context["form"].errors["income"]
    survey.refresh_from_db()
    assert survey.screening == {} and survey.version == 1
    response = client.post(survey_url(survey), survey_data(survey))  # Phiếu A unanswered
    assert response.context["form"].errors["q1"]
    # A "yes" that stops the screening needs no Phiếu B.
    assert client.post(survey_url(survey), survey_data(survey, screening={1: "yes"})).status_code == 302
    survey.refresh_from_db()
    assert survey.status == Survey.Status.SCREENED_OUT and survey.category == "none"


def test_a_stale_survey_edit_is_refused_and_keeps_the_newer_result(world, as_user, open_round):
    round_, survey = open_round
    data = survey_data(survey, income="1000000", deprived=POOR_FLAGS)
    services.record_survey(actor=world.officer, survey=survey, income=2_000_000,
                           deprivations=dict.fromkeys(round_.standard.indicators.values_list("code", flat=True), False))
    response = as_user(world.officer).post(survey_url(survey), data)
    assert response.status_code == 200
    assert "changed by someone else" in " ".join(response.context["form"].non_field_errors())
    survey.refresh_from_db()
    assert survey.income == 2_000_000


def test_a_meeting_without_attendance_is_refused_on_its_field(world, as_user, open_round):
    round_, survey = open_round
    codes = round_.standard.indicators.values_list("code", flat=True)
    services.record_survey(actor=world.officer, survey=survey, income=1_000_000,
                           deprivations={c: c in POOR_FLAGS for c in codes})
    url = reverse("reviews:meeting", args=[round_.pk, world.village.pk])
    client = as_user(world.officer)
    response = client.post(url, {"held_on": d(1), "attendance": "", "chaired_by": "Vàng Seo Sử",
                                 f"votes_{survey.pk}": "3"})
    assert response.status_code == 200 and response.context["form"].errors["attendance"]
    response = client.post(url, {"held_on": d(-3), "attendance": "10", "chaired_by": "Vàng Seo Sử",
                                 f"votes_{survey.pk}": "3"})
    assert response.status_code == 200 and response.context["form"].errors["held_on"]  # the service's check
    response = client.post(url, {"held_on": d(1), "attendance": "10", "chaired_by": "Vàng Seo Sử",
                                 f"votes_{survey.pk}": "12"})
    assert response.status_code == 200 and response.context["form"].errors[f"votes_{survey.pk}"]
    assert not VillageMeeting.objects.exists()
    survey.refresh_from_db()
    assert survey.votes_agree is None


def test_submitting_too_early_shows_what_is_missing(world, as_user, open_round):
    round_, survey = open_round
    client = as_user(world.officer)
    response = client.post(reverse("reviews:round_submit", args=[round_.pk]), follow=True)
    assert response.status_code == 200 and "not yet surveyed" in response.content.decode()
    round_.refresh_from_db()
    assert round_.status == ReviewRound.Status.OPEN


def test_a_decision_before_approval_is_refused_on_the_page(world, as_user, open_round):
    round_, survey = open_round
    response = as_user(world.officer).post(reverse("reviews:round_decision", args=[round_.pk]), {
        "decision_number": "1/QĐ", "decision_date": d(0), "decision_signer": "Chủ tịch"})
    assert response.status_code == 200 and "only after the list is approved" in response.content.decode()
    round_.refresh_from_db()
    assert round_.status == ReviewRound.Status.OPEN and not HouseholdStatus.objects.filter(round=round_).exists()


def test_a_second_round_of_the_same_year_is_refused_on_the_year_field(world, as_user, open_round):
    response = as_user(world.officer).post(reverse("reviews:round_new"), {"year": TODAY.year, "kind": "periodic"})
    assert response.status_code == 200 and response.context["form"].errors["year"]
    assert ReviewRound.objects.filter(year=TODAY.year).count() == 1


def test_adding_an_unknown_household_code_names_it(world, as_user, open_round):
    round_, survey = open_round
    make_household(world.officer, world.tathang, world.village, "Lý Seo Lùng", code="0002")
    client = as_user(world.officer)
    response = client.post(reverse("reviews:round_add", args=[round_.pk]), {"codes": "0002, 0404"})
    assert response.status_code == 200 and "0404" in " ".join(response.context["form"].errors["codes"])
    assert round_.surveys.count() == 1
    assert client.post(reverse("reviews:round_add", args=[round_.pk]), {"codes": "0002"}).status_code == 302
    assert round_.surveys.count() == 2


# --- query counts ---------------------------------------------------------------------------------------------


def test_round_page_and_rounds_list_queries_do_not_grow_with_households(world, as_user,
                                                                       django_assert_max_num_queries):
    for i in range(2, 32):
        make_household(world.superuser, world.tathang, world.village, f"Hộ {i}", code=f"{i:04d}",
                       classification="near_poor", classification_year=2025)
    round_ = services.open_round(actor=world.officer, commune=world.tathang, year=TODAY.year)
    flags = {c: c in POOR_FLAGS for c in round_.standard.indicators.values_list("code", flat=True)}
    for survey in round_.surveys.all()[:10]:
        services.record_survey(actor=world.officer, survey=survey, income=1_000_000, deprivations=flags)
    assert round_.surveys.count() == 31
    client = as_user(world.officer)
    with django_assert_max_num_queries(15):
        assert client.get(round_.get_absolute_url()).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(reverse("reviews:rounds")).status_code == 200
    client = as_user(world.reviewer)
    with django_assert_max_num_queries(10):
        assert client.get(reverse("reviews:rounds")).status_code == 200
    assert Household.objects.filter(commune=world.tathang).count() == 31


def test_a_superuser_opens_a_round_by_commune_code(world, as_user):
    client = as_user(world.superuser)
    response = client.post(reverse("reviews:round_new"), {"commune_code": "2791", "year": TODAY.year,
                                                          "kind": "regular", "month": ""})
    assert response.status_code == 200 and response.context["form"].errors["month"]
    response = client.post(reverse("reviews:round_new"), {"commune_code": "2791", "year": TODAY.year,
                                                          "kind": "regular", "month": "10"})
    assert response.status_code == 302
    assert ReviewRound.objects.get(year=TODAY.year).commune == world.lapantan


def test_the_survey_page_loads_htmx_from_our_own_static_files_and_sends_the_csrf_token(world, as_user, open_round):
    round_, survey = open_round
    page = as_user(world.officer).get(survey_url(survey)).content.decode()
    assert "/static/django_htmx/htmx-2.min.js" in page and "X-CSRFToken" in page
    assert f'hx-post="{survey_url(survey, "reviews:survey_preview")}"' in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_survey_form_shows_the_result_live_in_a_browser(live_server, browser_page):  # noqa: F811
    from .world import PASSWORD, build_world

    world = build_world()
    round_ = services.open_round(actor=world.officer, commune=world.tathang, year=TODAY.year)
    survey = round_.surveys.get(household=world.household)
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "officer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(live_server.url + survey_url(survey))
    page.fill("#id_income", "1000000")
    for code in POOR_FLAGS:
        page.check(f"#id_{code}")
    # Each change asks again; wait for the answer to the last one (4 of 12 deprived).
    page.wait_for_function("document.querySelector('#classification').innerText.includes('4/12')")
    assert "→ hộ nghèo" in page.inner_text("#classification")
    survey.refresh_from_db()
    assert survey.category == ""  # the live result saves nothing
    page.click("#survey-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}{survey_url(survey)}")
    survey.refresh_from_db()
    assert survey.category == "poor"
