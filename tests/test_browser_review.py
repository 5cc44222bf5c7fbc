"""The whole review round in headless Chromium, through the real pages only.

On the demo data, `xa_tathang` records a Mẫu 01 request, opens a regular round for
Tả Thàng (its list: the commune's open requests), surveys each household, records
the village meetings, the public posting and a complaint with its re-check, and
submits; `huyen_muongkhuong` returns the list with comments; the officer fixes the
household commented on and submits again; the reviewer approves; the officer records
the decision and opens a certificate (Mẫu 03) from the printed decision.

Nothing moves the round but clicks and fills; the ORM only reads state and picks
objects. Pages are in Vietnamese (the browser's language), so the expected labels are
taken from the catalogue in Vietnamese rather than written out.
"""

import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone, translation
from django.utils.translation import gettext

from households.models import Household
from reviews.models import (
    Category,
    Complaint,
    HouseholdStatus,
    Request,
    ReviewEvent,
    ReviewRound,
    ScreeningRule,
    Survey,
)

from .review_world import POOR_FLAGS

PASSWORD = "demo12345"
TA_THANG = "02794"


def vi(text) -> str:
    """A label as the pages show it (the browser asks for Vietnamese)."""
    with translation.override("vi"):
        return str(gettext(text) if isinstance(text, str) else text)


def day(days_ago: int) -> str:
    return (timezone.localdate() - timedelta(days=days_ago)).strftime("%d/%m/%Y")


def submit(page, selector: str) -> None:
    """Click a button that posts a form and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(selector)


def follow(page, href: str) -> None:
    with page.expect_navigation():
        page.click(f"a[href='{href}'] >> nth=0")


def sign_in(page, url: str, username: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    submit(page, "button[type=submit]")
    assert page.url == f"{url}/"


def sign_out(page, url: str) -> None:
    page.click(".navbar-toggler")  # a phone: the menu is folded
    page.wait_for_selector("#mainnav.show")  # opened to the end of its transition, so the click lands
    submit(page, "form[action='/accounts/logout/'] button")
    assert page.url.startswith(f"{url}/accounts/login/")


def open_round_page(page, url: str, round_: ReviewRound) -> None:
    page.goto(f"{url}/reviews/")
    follow(page, round_.get_absolute_url())


def status_text(page) -> str:
    return page.inner_text("[data-testid=round-status]")


def alerts(page) -> str:
    return " ".join(page.locator("main [role=alert]").all_inner_texts())


def fill_survey(page, plan: dict, rules: list[int]) -> None:
    for number in rules:
        page.check(f"input[name=q{number}][value={'yes' if number in plan.get('yes', ()) else 'no'}]")
    if "income" in plan:
        page.fill("#id_income", str(plan["income"]))
        for code in plan["deprived"]:
            page.check(f"#id_{code}")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_whole_review_round_in_the_browser(live_server, browser_page):
    call_command("seed_demo", verbosity=0)
    page, url = browser_page, live_server.url
    today = timezone.localdate()

    # A household of Tả Thàng off the lists, with no request yet, asks to be added (Mẫu 01).
    asker = (Household.objects.filter(commune__code=TA_THANG, is_archived=False, classification="none")
             .exclude(review_requests__isnull=False).order_by("code").first())
    sign_in(page, url, "xa_tathang")
    page.goto(f"{url}/reviews/requests/")
    follow(page, "/reviews/requests/new/")
    page.fill("#id_household_code", asker.code)
    page.check("input[name=kind][value=add]")
    page.fill("#id_received_on", day(14))
    page.select_option("#id_channel", "village_head")
    page.fill("#id_reason", "Chủ hộ ốm nặng, mất sức lao động")
    submit(page, ".form-narrow button[type=submit]")
    assert page.url == f"{url}/reviews/requests/"
    assert asker.head_name in page.inner_text("[data-testid=request-table]")
    request = Request.objects.get(household=asker)
    assert request.status == Request.Status.OPEN

    # A regular round of this month: its list is the commune's open requests, ours among them.
    page.goto(f"{url}/reviews/")
    follow(page, "/reviews/new/")
    page.check("input[name=kind][value=regular]")
    page.fill("#id_month", str(today.month))
    submit(page, ".form-narrow button[type=submit]")
    round_ = ReviewRound.objects.get(commune__code=TA_THANG, year=today.year, kind="regular", month=today.month)
    assert page.url == f"{url}{round_.get_absolute_url()}"
    assert status_text(page) == vi(ReviewRound.Status.OPEN.label)
    surveys = list(round_.surveys.select_related("household__village", "request").order_by("household__code"))
    assert asker.pk in {s.household_id for s in surveys}
    assert all(s.origin == Survey.Origin.REQUEST for s in surveys) and 2 <= len(surveys) <= 8
    assert page.locator("[data-testid=survey-table] tbody tr[id^=survey-]").count() == len(surveys)

    # What each household's survey finds. Every one asked, so each starts with Phiếu A.
    rules = list(ScreeningRule.objects.filter(standard=round_.standard, is_active=True)
                 .order_by("number").values_list("number", flat=True))
    assert rules, "the demo configures Phiếu A"
    mine = next(s for s in surveys if s.household_id == asker.pk)
    near = next(s for s in surveys if s.pk != mine.pk and s.request.kind == Request.Kind.ADD)
    plans = {mine.pk: {"income": 1_000_000, "deprived": POOR_FLAGS, "category": "poor"},
             near.pk: {"income": 1_200_000, "deprived": ("telecom",), "category": "near_poor"}}
    for s in surveys:
        if s.pk in plans:
            continue
        if s.request.kind == Request.Kind.EXIT:  # a poor household that asked to leave: its income is now enough
            plans[s.pk] = {"income": 4_000_000, "deprived": (), "category": "none"}
        else:  # the others stop at Phiếu A's first question
            plans[s.pk] = {"yes": (rules[0],), "category": "none"}

    for s in surveys:
        plan = plans[s.pk]
        follow(page, s.get_absolute_url())
        assert page.locator("[data-testid=phieu-a]").is_visible()
        fill_survey(page, plan, rules)
        submit(page, "#survey-form button[type=submit]")
        assert page.url == f"{url}{s.get_absolute_url()}"
        assert page.inner_text("[data-testid=classification] .fs-5") == vi(Category(plan["category"]).label)
        page.goto(f"{url}{round_.get_absolute_url()}")
    statuses = dict(round_.surveys.values_list("pk", "status"))
    assert all(statuses[pk] == (Survey.Status.SCREENED_OUT if "yes" in plan else Survey.Status.SURVEYED)
               for pk, plan in plans.items())
    assert {s.pk: s.category for s in round_.surveys.all()} == {pk: p["category"] for pk, p in plans.items()}

    # The village meetings: everyone present agrees with every result.
    to_meet = [s for s in surveys if "yes" not in plans[s.pk]]
    villages = {s.household.village_id: s.household.village for s in to_meet}
    for village in villages.values():
        follow(page, f"/reviews/rounds/{round_.pk}/meetings/{village.pk}/")
        page.fill("#id_held_on", day(12))
        page.fill("#id_attendance", "24")
        page.fill("#id_chaired_by", "Giàng Seo Phử")
        page.fill("#id_secretary", "Lù Thị Hoa")
        for s in to_meet:
            if s.household.village_id == village.pk:
                page.fill(f"#id_votes_{s.pk}", "24")
        submit(page, "form.form-narrow button[type=submit]")
        assert page.url == f"{url}{round_.get_absolute_url()}"
        assert vi("Meeting of %(village)s recorded.") % {"village": village.name} in alerts(page)
    assert set(round_.surveys.filter(status=Survey.Status.SURVEYED).values_list("votes_agree", flat=True)) == {24}
    problems = page.inner_text("[data-testid=submission-problems]")
    assert vi("The public posting has not been recorded.") in problems

    # The public posting, started ten days ago so that it is over.
    follow(page, f"/reviews/rounds/{round_.pk}/posting/")
    page.fill("#id_posting_start", day(10))
    page.fill("#id_posting_days", "3")
    submit(page, ".form-narrow button[type=submit]")
    round_.refresh_from_db()
    assert round_.posting_start == today - timedelta(days=10) and round_.posting_end < today
    assert page.locator("[data-testid=submission-problems]").count() == 0

    # A complaint during the posting keeps the list from being submitted until it is re-checked.
    follow(page, f"/reviews/rounds/{round_.pk}/complaints/new/")
    page.fill("#id_complainant", "Thào Seo Dìn")
    page.fill("#id_received_on", day(9))
    page.select_option("#id_household", str(near.household_id))
    page.fill("#id_content", "Đề nghị xem lại: gia đình mới mua xe máy.")
    submit(page, ".form-narrow button[type=submit]")
    complaint = Complaint.objects.get(round=round_)
    assert "Thào Seo Dìn" in page.inner_text("[data-testid=complaints]")
    assert vi("%(n)d complaint(s) still open.") % {"n": 1} in page.inner_text("[data-testid=submission-problems]")
    assert page.locator(f"form[action='/reviews/rounds/{round_.pk}/submit/'] button").is_disabled()
    follow(page, f"/reviews/rounds/{round_.pk}/complaints/{complaint.pk}/resolve/")
    page.fill("#id_recheck_on", day(5))
    page.fill("#id_recheck_findings", "Xe máy đi mượn của người thân; thu nhập đúng như phiếu.")
    page.check("input[name=outcome][value=dismissed]")
    submit(page, ".form-narrow button[type=submit]")
    assert "Xe máy đi mượn" in page.inner_text("[data-testid=complaints]")
    complaint.refresh_from_db()
    assert complaint.outcome == Complaint.Outcome.DISMISSED

    # Submitted.
    assert page.locator("[data-testid=submission-problems]").count() == 0
    submit(page, f"form[action='/reviews/rounds/{round_.pk}/submit/'] button")
    assert vi("The list was submitted for review.") in alerts(page)
    assert status_text(page) == vi(ReviewRound.Status.SUBMITTED.label)
    assert page.locator(f"a[href='/reviews/rounds/{round_.pk}/posting/']").count() == 0  # nothing changes now
    sign_out(page, url)

    # The district's reviewer finds it in the queue and returns it, with a comment on a household.
    sign_in(page, url, "huyen_muongkhuong")
    page.goto(f"{url}/reviews/")
    assert str(round_.commune.name) in page.inner_text("[data-testid=review-queue]")
    with page.expect_navigation():
        page.click(f"[data-testid=review-queue] a[href='{round_.get_absolute_url()}']")
    assert page.locator("[data-testid=review-actions]").is_visible()
    follow(page, f"/reviews/rounds/{round_.pk}/return/")
    list_comment = "Đề nghị xã kiểm tra lại thu nhập của hộ cận nghèo mới."
    note = "Thu nhập chưa tính tiền công làm thuê theo mùa."
    page.fill("#id_comment", list_comment)
    page.fill(f"#id_note_{near.pk}", note)
    submit(page, ".form-narrow button[type=submit]")
    assert status_text(page) == vi(ReviewRound.Status.RETURNED.label)
    sign_out(page, url)

    # The officer reads the comments, corrects the household's income and submits again.
    sign_in(page, url, "xa_tathang")
    open_round_page(page, url, round_)
    assert status_text(page) == vi(ReviewRound.Status.RETURNED.label)
    assert list_comment in page.inner_text("[data-testid=review-comment]")
    assert note in page.inner_text(f"[data-testid=reviewer-note-{near.pk}]")
    follow(page, near.get_absolute_url())
    assert note in page.inner_text("[data-testid=reviewer-comment]")
    assert page.input_value("#id_income") == "1200000"
    page.fill("#id_income", "1350000")
    submit(page, "#survey-form button[type=submit]")
    near.refresh_from_db()
    assert near.income == 1_350_000 and near.category == "near_poor" and near.status == Survey.Status.SURVEYED
    page.goto(f"{url}{round_.get_absolute_url()}")
    assert page.locator("[data-testid=submission-problems]").count() == 0
    submit(page, f"form[action='/reviews/rounds/{round_.pk}/submit/'] button")
    assert status_text(page) == vi(ReviewRound.Status.SUBMITTED.label)
    sign_out(page, url)

    # The reviewer approves.
    sign_in(page, url, "huyen_muongkhuong")
    open_round_page(page, url, round_)
    page.fill("[data-testid=review-actions] #id_comment", "Thống nhất danh sách của xã.")
    submit(page, "[data-testid=review-actions] button[type=submit]")
    assert vi("The list was approved.") in alerts(page)
    assert status_text(page) == vi(ReviewRound.Status.APPROVED.label)
    sign_out(page, url)

    # The officer records the chairman's decision ...
    sign_in(page, url, "xa_tathang")
    open_round_page(page, url, round_)
    follow(page, f"/reviews/rounds/{round_.pk}/decision/")
    assert page.input_value("#id_decision_date") == day(0)
    page.fill("#id_decision_number", "312/QĐ-UBND")
    page.fill("#id_decision_signer", "Chủ tịch UBND xã Tả Thàng")
    submit(page, ".form-narrow button[type=submit]")
    assert status_text(page) == vi(ReviewRound.Status.DECIDED.label)
    assert "312/QĐ-UBND" in page.inner_text("[data-testid=round-steps]")

    # ... and opens the certificate of the new poor household from the printed decision.
    follow(page, f"/reviews/rounds/{round_.pk}/decision/print/")
    assert asker.head_name in page.inner_text("[data-testid=list-poor]")
    assert near.household.head_name in page.inner_text("[data-testid=list-near_poor]")
    with page.expect_navigation():
        page.click(f"[data-testid=list-poor] a[href='/reviews/rounds/{round_.pk}/certificates/{asker.pk}/']")
    certificate = page.inner_text("article.print-doc")
    assert asker.head_name in certificate and "312/QĐ-UBND" in certificate and asker.code in certificate
    assert vi("CERTIFICATE OF POOR HOUSEHOLD") in certificate
    if os.environ.get("BROWSER_SCREENSHOT"):  # set it to look at the certificate yourself
        page.screenshot(path=os.environ["BROWSER_SCREENSHOT"], full_page=True)

    # The database: decided, one official status per household on the list, the steps in order.
    round_.refresh_from_db()
    assert round_.status == ReviewRound.Status.DECIDED and round_.decision_date == today
    assert round_.decision_number == "312/QĐ-UBND" and round_.decision_signer == "Chủ tịch UBND xã Tả Thàng"
    official = {st.household_id: st for st in HouseholdStatus.objects.filter(round=round_)}
    assert set(official) == {s.household_id for s in surveys}
    for s in surveys:
        assert official[s.household_id].category == plans[s.pk]["category"]
        assert official[s.household_id].year == today.year
    assert official[near.household_id].movement == HouseholdStatus.Movement.NEWLY_NEAR_POOR
    assert official[asker.pk].movement in (HouseholdStatus.Movement.NEWLY_POOR, HouseholdStatus.Movement.RE_POOR)
    asker.refresh_from_db()
    assert asker.classification == "poor" and asker.classification_year == today.year
    request.refresh_from_db()
    assert request.status == Request.Status.DECIDED and request.answered_on == today
    actions = list(ReviewEvent.objects.filter(round=round_).order_by("at", "pk").values_list("action", flat=True))
    steps = [a for i, a in enumerate(actions) if i == 0 or a != actions[i - 1]]  # repeats of one step as one
    A = ReviewEvent.Action
    assert steps == [A.OPENED, A.SURVEYED, A.MEETING, A.POSTED, A.COMPLAINT, A.COMPLAINT_RESOLVED, A.SUBMITTED,
                     A.RETURNED, A.SURVEYED, A.SUBMITTED, A.APPROVED, A.DECIDED]
    assert actions.count(A.MEETING) == len(villages)
