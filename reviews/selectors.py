"""Scoped reads of the review. Every one starts from `.for_user(user)`.

A record outside the user's area raises DoesNotExist (the views answer 404);
what a role may do inside its area is the services' and the views' business.
"""

from __future__ import annotations

from django.db.models import Case, Count, IntegerField, Prefetch, Q, QuerySet, Value, When

from core.permissions import Action, can
from households.models import Household, Member, Village

from .models import (
    Category,
    Complaint,
    HouseholdStatus,
    Indicator,
    Request,
    ReviewEvent,
    ReviewRound,
    ScreeningRule,
    Survey,
    VillageMeeting,
)

Movement = HouseholdStatus.Movement


def round_list(user, *, year: int | None = None, status: str = "") -> QuerySet[ReviewRound]:
    rounds = ReviewRound.objects.for_user(user).select_related("commune", "standard").annotate(
        household_count=Count("surveys"))
    if year:
        rounds = rounds.filter(year=year)
    if status:
        rounds = rounds.filter(status=status)
    return rounds.order_by("-year", "-month", "commune__code", "pk")


def reviewer_queue(user) -> QuerySet[ReviewRound]:
    """The submitted lists waiting for the user's opinion, oldest submission first."""
    if not can(user, Action.REVIEW_LISTS):
        return ReviewRound.objects.none()
    return (ReviewRound.objects.for_user(user).filter(status=ReviewRound.Status.SUBMITTED)
            .select_related("commune", "submitted_by").annotate(household_count=Count("surveys"))
            .order_by("submitted_at", "pk"))


def round_for_user(user, pk: int) -> ReviewRound:
    return ReviewRound.objects.for_user(user).select_related(
        "commune__parent", "standard", "opened_by", "submitted_by", "reviewed_by", "decided_by").get(pk=pk)


def round_surveys(round_: ReviewRound) -> QuerySet[Survey]:
    return (round_.surveys.select_related("household__village", "meeting", "request")
            .order_by("household__village__name", "household__code", "pk"))


def round_events(round_: ReviewRound) -> QuerySet[ReviewEvent]:
    return round_.events.select_related("actor").order_by("-at", "-id")


def round_complaints(round_: ReviewRound) -> QuerySet[Complaint]:
    return round_.complaints.select_related("household", "resolved_by").order_by("received_on", "pk")


def round_meetings(round_: ReviewRound) -> QuerySet[VillageMeeting]:
    return round_.meetings.select_related("village").order_by("village__name")


def round_villages(round_: ReviewRound) -> list[dict]:
    """Each village with households on the list: how many, how many await its meeting, its meeting."""
    meetings = {m.village_id: m for m in round_meetings(round_)}
    rows = (round_.surveys.values("household__village_id", "household__village__name")
            .annotate(total=Count("pk"),
                      waiting=Count("pk", filter=Q(status=Survey.Status.SURVEYED, votes_agree__isnull=True)),
                      resurvey=Count("pk", filter=Q(status=Survey.Status.RESURVEY)))
            .order_by("household__village__name"))
    return [{"village_id": row["household__village_id"], "name": row["household__village__name"],
             "total": row["total"], "waiting": row["waiting"], "resurvey": row["resurvey"],
             "meeting": meetings.get(row["household__village_id"])} for row in rows]


def round_commune_households(user, round_: ReviewRound, codes) -> QuerySet[Household]:
    """Households of the round's commune with these codes (to add to its list by hand)."""
    return Household.objects.for_user(user).filter(commune_id=round_.commune_id, code__in=list(codes))


def round_households(user, round_: ReviewRound) -> QuerySet[Household]:
    """The households on a round's list (a complaint may name one)."""
    return Household.objects.for_user(user).filter(surveys__round=round_).order_by("code", "pk")


def screening_rules(standard) -> QuerySet[ScreeningRule]:
    return ScreeningRule.objects.filter(standard=standard, is_active=True).order_by("number")


def indicators(standard) -> QuerySet[Indicator]:
    return standard.indicators.order_by("number")


def survey_for_user(user, round_pk: int, pk: int) -> Survey:
    return Survey.objects.for_user(user).select_related(
        "round__commune", "round__standard", "household__village", "household__commune", "request", "meeting",
        "surveyed_by",
    ).get(pk=pk, round_id=round_pk)


def village_for_round(user, round_: ReviewRound, village_pk: int) -> Village:
    return Village.objects.for_user(user).get(pk=village_pk, commune_id=round_.commune_id)


def meeting_surveys(round_: ReviewRound, village: Village) -> QuerySet[Survey]:
    """The households a village meeting votes on: surveyed, of that village."""
    return (round_.surveys.filter(household__village=village, status=Survey.Status.SURVEYED)
            .select_related("household").order_by("household__code", "pk"))


def meeting_for(round_: ReviewRound, village: Village) -> VillageMeeting | None:
    return round_.meetings.select_related("recorded_by").filter(village=village).first()


def complaint_for_user(user, round_pk: int, pk: int) -> Complaint:
    return Complaint.objects.filter(round__in=ReviewRound.objects.for_user(user)).select_related(
        "round__commune", "household").get(pk=pk, round_id=round_pk)


def request_for_user(user, pk: int) -> Request:
    return Request.objects.for_user(user).select_related("household__commune", "round").get(pk=pk)


def household_in_area(user, pk: int) -> Household:
    return Household.objects.for_user(user).select_related("commune").get(pk=pk)


def household_by_code(user, commune, code: str) -> Household | None:
    return Household.objects.for_user(user).filter(commune=commune, code=code.strip()).first()


def round_statuses(round_: ReviewRound) -> QuerySet[HouseholdStatus]:
    return (round_.statuses.select_related("household__village")
            .order_by("household__village__name", "household__code", "pk"))


def decision_lists(round_: ReviewRound) -> dict[str, list[HouseholdStatus]]:
    """The four lists of the decision (Mẫu 02): poor, near-poor, escaped poverty, escaped near-poverty."""
    lists: dict[str, list[HouseholdStatus]] = {"poor": [], "near_poor": [], "escaped_poor": [],
                                               "escaped_near_poor": []}
    for status in round_statuses(round_):
        if status.category == Category.POOR:
            lists["poor"].append(status)
        elif status.category == Category.NEAR_POOR:
            lists["near_poor"].append(status)
        if status.movement in (Movement.ESCAPED_TO_NEAR_POOR, Movement.ESCAPED_ABOVE):
            lists["escaped_poor"].append(status)
        elif status.movement == Movement.ESCAPED_NEAR_POVERTY:
            lists["escaped_near_poor"].append(status)
    return lists


def certificate_status(user, round_pk: int, household_pk: int) -> HouseholdStatus:
    """The official status a certificate (Mẫu 03) attests: poor or near-poor, by a decided round."""
    members = Prefetch("household__members", queryset=_current_members())
    return (HouseholdStatus.objects.for_user(user)
            .select_related("household__village", "household__commune__parent", "round__commune__parent")
            .prefetch_related(members)
            .get(round_id=round_pk, household_id=household_pk, round__status=ReviewRound.Status.DECIDED,
                 category__in=[Category.POOR, Category.NEAR_POOR]))


def _current_members():
    head_first = Case(When(relation=Member.Relation.HEAD, then=Value(0)), default=Value(1),
                      output_field=IntegerField())
    return Member.objects.filter(is_archived=False).select_related("ethnicity").order_by(head_first, "birth_year",
                                                                                          "pk")


def household_surveys(user, household: Household) -> QuerySet[Survey]:
    return (Survey.objects.for_user(user).filter(household=household).select_related("round")
            .order_by("-round__year", "-round__month", "-pk"))


def household_statuses(user, household: Household) -> QuerySet[HouseholdStatus]:
    return (HouseholdStatus.objects.for_user(user).filter(household=household).select_related("round")
            .order_by("-year", "-decided_on", "-pk"))


def recognising_status(household: Household, statuses) -> HouseholdStatus | None:
    """The decision behind the household's classification on the register: its latest official status
    (`statuses` newest first, as `household_statuses` gives them), when the register holds what it
    recognised; None when no decision recognised the classification."""
    latest = statuses[0] if statuses else None
    if latest is not None and latest.category == household.classification:
        return latest
    return None
