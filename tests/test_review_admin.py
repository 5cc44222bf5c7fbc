"""The review app's admin: round actions go through the services, refusals are reported, scope holds."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEvent
from reviews import services
from reviews.models import Complaint, HouseholdStatus, PovertyStandard, ReviewEvent, ReviewRound

from .review_world import build_reviews

CHANGELIST = "admin:reviews_reviewround_changelist"


@pytest.fixture
def reviews(world):
    return build_reviews(world)


@pytest.fixture
def round_(world, reviews):
    """Tả Thàng's round, ready to submit once its complaint is resolved."""
    return reviews[world.tathang.pk].round


def resolve_complaint(world, round_):
    complaint = round_.complaints.get()
    services.resolve_complaint(actor=world.officer, complaint=complaint, recheck_on=timezone.localdate(),
                               findings="Xe máy do con trai mua.", outcome=Complaint.Outcome.DISMISSED)


def act(client, user, action, rounds, **extra):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    data = {"action": action, "index": 0, "select_across": 0, "_selected_action": [r.pk for r in rounds], **extra}
    response = client.post(reverse(CHANGELIST), data, follow=True)
    assert response.status_code == 200
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def status(round_):
    return ReviewRound.objects.get(pk=round_.pk).status


def test_submit_refused_with_the_services_message_then_accepted(world, client, round_):
    messages = act(client, world.officer, "submit_selected", [round_])
    assert status(round_) == ReviewRound.Status.OPEN
    assert [level for level, _text in messages] == ["error"]
    assert "1 complaint(s) still open" in messages[0][1]
    assert str(round_) in messages[0][1]

    resolve_complaint(world, round_)
    messages = act(client, world.officer, "submit_selected", [round_])
    assert status(round_) == ReviewRound.Status.SUBMITTED
    assert messages == [("success", f"Submitted: {round_}.")]
    event = round_.events.get(action=ReviewEvent.Action.SUBMITTED)
    assert event.actor == world.officer


def test_one_action_reports_each_round(world, client, reviews):
    tathang, lapantan = reviews[world.tathang.pk].round, reviews[world.lapantan.pk].round
    resolve_complaint(world, tathang)
    messages = act(client, world.superuser, "submit_selected", [tathang, lapantan])
    assert status(tathang) == ReviewRound.Status.SUBMITTED
    assert status(lapantan) == ReviewRound.Status.OPEN
    assert ("success", f"Submitted: {tathang}.") in messages
    refused = [text for level, text in messages if level == "error"]
    assert len(refused) == 1 and str(lapantan) in refused[0] and "complaint" in refused[0]


def test_reviewer_approves_and_the_event_records_the_comment(world, client, round_):
    resolve_complaint(world, round_)
    services.submit_round(actor=world.officer, round_=round_)
    messages = act(client, world.reviewer, "approve_selected", [round_], comment="Đúng quy trình.")
    assert status(round_) == ReviewRound.Status.APPROVED
    assert messages == [("success", f"Approved: {round_}.")]
    event = round_.events.get(action=ReviewEvent.Action.APPROVED)
    assert (event.actor, event.comment) == (world.reviewer, "Đúng quy trình.")


def test_return_needs_a_comment(world, client, round_):
    resolve_complaint(world, round_)
    services.submit_round(actor=world.officer, round_=round_)
    messages = act(client, world.reviewer, "return_selected", [round_], comment="")
    assert status(round_) == ReviewRound.Status.SUBMITTED
    assert messages[0][0] == "error" and "Say why the list is returned." in messages[0][1]

    messages = act(client, world.reviewer, "return_selected", [round_], comment="Thiếu biên bản họp thôn.")
    assert status(round_) == ReviewRound.Status.RETURNED
    assert ReviewRound.objects.get(pk=round_.pk).review_comment == "Thiếu biên bản họp thôn."
    assert round_.events.filter(action=ReviewEvent.Action.RETURNED, actor=world.reviewer).exists()


def test_officer_records_the_decision_and_the_register_follows(world, client, round_):
    resolve_complaint(world, round_)
    services.submit_round(actor=world.officer, round_=round_)
    services.approve_round(actor=world.reviewer, round_=round_)
    today = timezone.localdate()
    messages = act(client, world.officer, "decide_selected", [round_], decision_number="",
                   decision_date=f"{today:%d/%m/%Y}", decision_signer="Chủ tịch UBND xã")
    assert status(round_) == ReviewRound.Status.APPROVED
    assert "Enter the decision's number." in messages[0][1]

    messages = act(client, world.officer, "decide_selected", [round_], decision_number="12/QĐ-UBND",
                   decision_date="31/02/2026", decision_signer="Chủ tịch UBND xã")
    assert status(round_) == ReviewRound.Status.APPROVED
    assert "is not a date" in messages[0][1]

    messages = act(client, world.officer, "decide_selected", [round_], decision_number="12/QĐ-UBND",
                   decision_date=f"{today + timedelta(days=1):%d/%m/%Y}", decision_signer="Chủ tịch UBND xã")
    assert "The decision date is in the future." in messages[0][1]

    messages = act(client, world.officer, "decide_selected", [round_], decision_number="12/QĐ-UBND",
                   decision_date=f"{today:%d/%m/%Y}", decision_signer="Chủ tịch UBND xã")
    decided = ReviewRound.objects.get(pk=round_.pk)
    assert decided.status == ReviewRound.Status.DECIDED
    assert (decided.decision_number, decided.decision_date, decided.decided_by) == ("12/QĐ-UBND", today,
                                                                                  world.officer)
    assert messages == [("success", f"Decision recorded: {round_}.")]
    assert HouseholdStatus.objects.filter(round=round_, household=world.household).exists()
    assert AuditEvent.objects.filter(source=AuditEvent.Source.REVIEW, household=world.household).exists()


def test_reviewer_cannot_submit_and_officer_cannot_approve(world, client, round_):
    resolve_complaint(world, round_)
    client.force_login(world.reviewer)
    actions = [value for value, _label in client.get(reverse(CHANGELIST)).context["action_form"]
               .fields["action"].choices]
    assert "submit_selected" not in actions and "approve_selected" in actions
    act(client, world.reviewer, "submit_selected", [round_])
    assert status(round_) == ReviewRound.Status.OPEN

    services.submit_round(actor=world.officer, round_=round_)
    client.force_login(world.officer)
    actions = [value for value, _label in client.get(reverse(CHANGELIST)).context["action_form"]
               .fields["action"].choices]
    assert "approve_selected" not in actions and "submit_selected" in actions
    act(client, world.officer, "approve_selected", [round_])
    act(client, world.officer, "return_selected", [round_], comment="x")
    assert status(round_) == ReviewRound.Status.SUBMITTED
    assert not round_.events.filter(action__in=[ReviewEvent.Action.APPROVED, ReviewEvent.Action.RETURNED]).exists()


def test_province_admin_is_refused_by_the_service(world, client, round_):
    # The province administrator sees no action; the service itself refuses them too.
    resolve_complaint(world, round_)
    services.submit_round(actor=world.officer, round_=round_)
    with pytest.raises(Exception, match="reviewer"):
        services.approve_round(actor=world.province_admin, round_=round_)
    act(client, world.province_admin, "approve_selected", [round_])
    assert status(round_) == ReviewRound.Status.SUBMITTED


def test_rounds_outside_the_area_are_invisible(world, client, reviews):
    outside = reviews[world.lapantan.pk].round
    resolve_complaint(world, reviews[world.tathang.pk].round)
    client.force_login(world.officer)
    listed = set(client.get(reverse(CHANGELIST)).context["cl"].queryset)
    # The commune's own rounds only (the test households' recognising round among them).
    assert reviews[world.tathang.pk].round in listed
    assert outside not in listed
    assert {round_.commune_id for round_ in listed} == {world.tathang.pk}
    assert client.get(reverse("admin:reviews_reviewround_change", args=[outside.pk])).status_code == 404
    # A forged selection of a round outside the area is not acted on.
    # Its own open complaint closed, it could be submitted: only the scope stops it.
    Complaint.objects.filter(round=outside).update(outcome="dismissed", recheck_on=timezone.localdate(),
                                                   recheck_findings="x")
    act(client, world.officer, "submit_selected", [outside])
    assert status(outside) == ReviewRound.Status.OPEN
    # Nor are its surveys, events or complaints.
    for model in ("survey", "reviewevent", "complaint", "villagemeeting", "request"):
        response = client.get(reverse(f"admin:reviews_{model}_changelist"))
        assert response.status_code == 200
        rows = list(response.context["cl"].queryset)
        assert rows, model
        assert all(r.pk not in _outside_pks(model, outside) for r in rows), model


def _outside_pks(model, round_):
    return {
        "survey": set(round_.surveys.values_list("pk", flat=True)),
        "reviewevent": set(round_.events.values_list("pk", flat=True)),
        "complaint": set(round_.complaints.values_list("pk", flat=True)),
        "villagemeeting": set(round_.meetings.values_list("pk", flat=True)),
        "request": set(round_.requests.values_list("pk", flat=True)),
    }[model]


def test_standards_are_changed_by_superusers_only_and_nothing_is_deleted(world, client):
    standard = PovertyStandard.objects.get(code="2027-2030")
    url = reverse("admin:reviews_povertystandard_change", args=[standard.pk])
    client.force_login(world.reviewer)
    response = client.get(url)
    assert response.status_code == 200 and not response.context["has_change_permission"]
    assert client.post(url, {"name": "x"}).status_code == 403
    assert client.get(reverse("admin:reviews_povertystandard_delete", args=[standard.pk])).status_code == 403
    client.force_login(world.superuser)
    response = client.get(url)
    assert response.context["has_change_permission"]
    assert not response.context["has_delete_permission"]
    assert client.get(reverse("admin:reviews_povertystandard_delete", args=[standard.pk])).status_code == 403
    assert client.get(reverse("admin:reviews_reviewround_add")).status_code == 403
