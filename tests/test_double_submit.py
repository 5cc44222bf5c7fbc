"""A double submit creates one record: the forms that create support, loans, complaints, requests and
the commune's other records carry a one-time key, and a second post of the same key goes to the
record the first one made."""

import re
import uuid
from datetime import date, timedelta

import pytest
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone

from core import submissions
from core.models import SubmissionKey
from programs import services as support
from programs.catalog import load_programs
from programs.models import BudgetAllocation, Intervention, Loan, Program, TrainingCourse
from reviews import services as review
from reviews.models import Complaint, Request

TODAY = timezone.localdate()


def fmt(day: date) -> str:
    return f"{day:%d/%m/%Y}"


@pytest.fixture
def programs(world):
    load_programs(Program)
    return {p.code: p for p in Program.objects.all()}


def rendered_key(client, url) -> str:
    """The key the page put in its form, as a browser would send it back."""
    page = client.get(url).content.decode()
    match = re.search(r'name="submission_key" value="([0-9a-f-]{36})"', page)
    assert match, "the form carries no one-time key"
    return match.group(1)


def post_twice(client, url, data):
    data = {**data, "submission_key": rendered_key(client, url)}
    first = client.post(url, data)
    second = client.post(url, data, follow=True)
    return first, second


def test_each_showing_of_a_form_has_a_new_key(world, client):
    client.force_login(world.officer)
    url = reverse("programs:visit_new", args=[world.household.pk])
    assert rendered_key(client, url) != rendered_key(client, url)


def test_double_submit_of_support_records_one_support(world, client, programs):
    client.force_login(world.officer)
    url = reverse("programs:intervention_new", args=[world.household.pk])
    first, second = post_twice(client, url, {
        "program": programs["DA5"].pk, "kind": "cash", "given_on": fmt(date(2025, 5, 1)), "status": "delivered",
        "quantity": "1", "amount": "40000000", "funding_source": "central", "house_work": "new"})
    assert first.status_code == 302
    assert second.redirect_chain[0][0] == first.url
    assert Intervention.objects.filter(household=world.household).count() == 1
    # "This form was already sent: …", in the pages' language.
    assert any("Biểu mẫu này đã được gửi" in str(m) for m in second.context["messages"])


def test_double_submit_of_a_loan_records_one_loan(world, client, programs):
    client.force_login(world.officer)
    url = reverse("programs:loan_new", args=[world.household.pk])
    first, _second = post_twice(client, url, {
        "program": programs["NHCS-HN"].pk, "principal": "50000000", "disbursed_on": fmt(TODAY - timedelta(days=3)),
        "term_months": "36", "purpose": "Mua bò"})
    assert first.status_code == 302
    assert Loan.objects.count() == 1


def test_double_submit_of_a_complaint_records_one_complaint(world, client):
    round_ = review.open_round(actor=world.officer, commune=world.tathang, year=TODAY.year)
    client.force_login(world.officer)
    url = reverse("reviews:complaint_new", args=[round_.pk])
    first, second = post_twice(client, url, {"complainant": "Lý Thị Dung", "received_on": fmt(TODAY),
                                             "content": "Hộ này có xe máy mới."})
    assert first.status_code == 302 and second.redirect_chain[0][0] == first.url
    assert Complaint.objects.filter(round=round_).count() == 1


def test_double_submit_of_a_request_records_one_request(world, client):
    client.force_login(world.officer)
    url = reverse("reviews:request_new")
    first, _second = post_twice(client, url, {"household_code": world.household.code, "kind": "exit",
                                              "received_on": fmt(TODAY), "channel": "in_person", "reason": ""})
    assert first.status_code == 302, first.context["form"].errors
    assert Request.objects.filter(household=world.household).count() == 1


def test_double_submit_of_a_course_goes_to_the_first_course(world, client, programs):
    client.force_login(world.officer)
    url = reverse("programs:course_new")
    first, second = post_twice(client, url, {
        "program": programs["DA4.1"].pk, "trade": "Trồng chè", "starts_on": fmt(date(2025, 3, 1)),
        "ends_on": fmt(date(2025, 4, 1)), "cost": "30000000", "funding_source": "central"})
    course = TrainingCourse.objects.get()
    assert first.url == second.redirect_chain[0][0] == reverse("programs:course", args=[course.pk])


def test_double_submit_of_a_disbursement_disburses_once(world, client, programs):
    allocation = support.allocate_budget(actor=world.reviewer, commune=world.tathang, program=programs["DA5"],
                                         year=2025, funding_source="central", allocated=100_000_000)
    client.force_login(world.officer)
    post_twice(client, reverse("programs:budget_disburse", args=[allocation.pk]), {"amount": "20000000"})
    assert BudgetAllocation.objects.get(pk=allocation.pk).disbursed == 20_000_000


def test_a_refused_post_keeps_its_key_free_for_the_corrected_one(world, client, programs):
    client.force_login(world.officer)
    url = reverse("programs:loan_new", args=[world.household.pk])
    data = {"program": programs["NHCS-HN"].pk, "principal": "0", "disbursed_on": fmt(TODAY), "term_months": "36",
            "purpose": "Mua bò", "submission_key": rendered_key(client, url)}
    assert client.post(url, data).status_code == 200
    assert client.post(url, {**data, "principal": "5000000"}).status_code == 302
    assert Loan.objects.count() == 1


def test_a_concurrent_post_of_the_same_key_creates_nothing_more(world, monkeypatch):
    """The race: the other post stores the key between our check and our insert."""
    key = uuid.uuid4()
    first = submissions.submit_once(user=world.officer, key=key, create=lambda: support.record_visit(
        actor=world.officer, household=world.household, visited_on=TODAY, findings="Nhà dột"))
    real_used = submissions._used
    calls = []

    def not_yet_seen(user, key):
        calls.append(key)
        return None if len(calls) == 1 else real_used(user, key)

    monkeypatch.setattr(submissions, "_used", not_yet_seen)
    second = submissions.submit_once(user=world.officer, key=key, create=lambda: support.record_visit(
        actor=world.officer, household=world.household, visited_on=TODAY, findings="Nhà dột"))
    assert not second.created and second.record == first.record
    assert world.household.support_visits.count() == 1
    assert SubmissionKey.objects.filter(key=key).count() == 1


def test_the_key_is_unique_per_user(world):
    key = uuid.uuid4()
    SubmissionKey.objects.create(user=world.officer, key=key)
    with pytest.raises(IntegrityError):
        SubmissionKey.objects.create(user=world.officer, key=key)


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_posts_of_one_key_make_one_record():
    """Real threads and connections: both posts pass the check, both create; the key's unique
    constraint makes the second wait for the first, fail, undo its record and answer the first's."""
    import threading

    from django.db import close_old_connections, connection

    from programs.models import Visit

    from .world import build_world

    if connection.vendor != "postgresql":
        pytest.skip("concurrent inserts are exercised on PostgreSQL")
    world = build_world()
    key, barrier, results = uuid.uuid4(), threading.Barrier(2), []

    def create():
        barrier.wait(timeout=10)  # both posts are past the check
        return support.record_visit(actor=world.officer, household=world.household, visited_on=TODAY,
                                    findings="Nhà dột")

    def post():
        try:
            results.append(submissions.submit_once(user=world.officer, key=key, create=create))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].record == results[1].record
    assert Visit.objects.filter(household=world.household).count() == 1
