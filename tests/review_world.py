"""Review objects for the shared world: one round in each commune the role matrix tries.

`build_reviews(world)` gives, for Tả Thàng (inside every 2021-map role's area), for the
communes outside each role's area (La Pan Tẩn, Y Tý, An Bình) and for the 2025 map's
commune (inside the 2025 province's reviewer's area), a periodic round of
last year with its household surveyed, a village meeting, a complaint, a request
and, for Tả Thàng, a decided earlier year with official statuses.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone

from reviews import services
from reviews.models import Complaint, HouseholdStatus, Request, ReviewRound, Survey, VillageMeeting


def flags(standard, *deprived):
    """Phiếu B answers for every indicator of a standard: deprived on the codes given."""
    return {code: code in deprived for code in standard.indicators.values_list("code", flat=True)}


POOR_FLAGS = ("employment", "health_insurance", "latrine", "housing_quality")


@dataclass
class CommuneReview:
    round: ReviewRound
    survey: Survey
    meeting: VillageMeeting
    complaint: Complaint
    request: Request


def review_commune(actor, household, *, year=None) -> CommuneReview:
    """A periodic round with `household` on its list, surveyed, agreed, posted, with one complaint."""
    year = year or timezone.localdate().year
    request = services.create_request(actor=actor, household=household, kind=Request.Kind.ADD,
                                      received_on=timezone.localdate() - timedelta(days=20),
                                      channel=Request.Channel.IN_PERSON, reason="Ốm đau")
    round_ = services.open_round(actor=actor, commune=household.commune, year=year)
    survey = round_.surveys.get(household=household)
    survey = services.record_survey(actor=actor, survey=survey, income=1_000_000,
                                    deprivations=flags(round_.standard, *POOR_FLAGS))
    meeting = services.record_meeting(actor=actor, round_=round_, village=household.village,
                                      held_on=timezone.localdate() - timedelta(days=10), attendance=30,
                                      chaired_by="Vàng Seo Sử", votes={survey.pk: 25})
    services.record_posting(actor=actor, round_=round_, start=timezone.localdate() - timedelta(days=9), days=3)
    complaint = services.record_complaint(actor=actor, round_=round_, complainant="Lý Thị Dung",
                                          received_on=timezone.localdate() - timedelta(days=8),
                                          content="Hộ này có xe máy mới.", household=household)
    survey.refresh_from_db()
    return CommuneReview(round_, survey, meeting, complaint, request)


def decided_year(actor, reviewer, household, year) -> ReviewRound:
    """A whole earlier round of `household`'s commune, decided, so its statuses are official."""
    round_ = services.open_round(actor=actor, commune=household.commune, year=year)
    for survey in round_.surveys.all():
        services.record_survey(actor=actor, survey=survey, income=1_000_000,
                               deprivations=flags(round_.standard, *POOR_FLAGS))
    votes = {s.pk: 20 for s in round_.surveys.filter(household__village=household.village)}
    services.record_meeting(actor=actor, round_=round_, village=household.village,
                            held_on=date(year, 10, 1), attendance=25, chaired_by="Vàng Seo Sử", votes=votes)
    services.record_posting(actor=actor, round_=round_, start=date(year, 10, 5), days=3)
    services.submit_round(actor=actor, round_=round_)
    services.approve_round(actor=reviewer, round_=round_)
    services.record_decision(actor=actor, round_=round_, number=f"{year}/QĐ-UBND", decided_on=timezone.localdate(),
                             signer="Chủ tịch UBND xã")
    return round_


def build_reviews(world) -> dict:
    """{commune pk: CommuneReview} for the communes the matrix uses, plus an official status in Tả Thàng."""
    reviews = {}
    for household in (world.household, world.household_lapantan, world.household_yty, world.household_outside,
                      world.household_2025):
        actor = world.officer if household.commune_id == world.tathang.pk else world.superuser
        reviews[household.commune_id] = review_commune(actor, household)
    assert not HouseholdStatus.objects.filter(round__in=[r.round for r in reviews.values()]).exists()
    return reviews
