"""Every URL, for every role, with an object inside and one outside the role's area.

The matrix below says what each role must get. A URL that the project serves
but the matrix does not know fails the test: adding a page means deciding who
may see it. The roles include the reviewer of a 2025-map province (no districts
since July 2025). Every URL is also sent a POST by every role (`test_role_matrix_post`):
refused without the right (403; 404 outside the area; anonymous sent to sign in), and a
refused POST, or one to a read-only page, changes no row of any table. A page where a
role writes that its GET rights do not show goes in WRITERS.
"""

import hashlib
import re
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse

from core.models import AuditEvent, PersonalDataAccess
from exchange.models import ImportBatch
from households import summaries
from households.models import CommuneSummary, Ethnicity, Member

from .programs_world import SUPPORT_MODELS, support_object
from .review_world import build_reviews, decided_year

# reviewer2025: the reviewer of a province on the 2025 map (no districts: the unit above its communes).
# Same rights as the district's reviewer; its area is the 2025 commune, and Tả Thàng lies outside it.
ROLES = ["anonymous", "officer", "reviewer", "province_admin", "superuser", "reviewer2025"]
STAFF = ROLES[1:]


def walk(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = namespace
            if pattern.namespace:
                ns = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        else:
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield prefix + str(pattern.pattern), name


def all_urls():
    return list(walk(get_resolver().url_patterns))


# --- the objects a URL is tried with -------------------------------------------

def household_for(world, role, inside):
    if role == "reviewer2025":
        return world.household_2025 if inside else world.household
    if inside or role == "superuser":
        return world.household
    return {"officer": world.household_lapantan, "reviewer": world.household_yty,
            "province_admin": world.household_outside, "anonymous": world.household}[role]


def object_for(model, world, role, inside):
    household = household_for(world, role, inside)
    if model == "household":
        return household
    if model == "member":
        return household.members.first()
    if model == "village":
        return household.village
    if model == "adminunit":
        return household.commune
    if model == "communesummary":
        return CommuneSummary.objects.get(commune=household.commune)
    if model == "auditevent":
        return AuditEvent.objects.filter(household=household).first()
    if model == "personaldataaccess":
        # Inside: the role's own read of its household; outside: another user's read of a
        # household outside (an officer sees only their own reads).
        reader = USERS[role](world) if inside and role in USERS else world.officer2
        return PersonalDataAccess.objects.get_or_create(
            user=reader, unit=household.commune, household=household,
            kind=PersonalDataAccess.Kind.HOUSEHOLD_PAGE)[0]
    if model == "ethnicity":
        return Ethnicity.objects.first()
    if model == "communesuccessor":
        # Reference data, not scoped: the same link whoever looks.
        from geo.models import CommuneSuccessor

        return CommuneSuccessor.objects.get_or_create(old=world.tathang, new=world.commune2025, is_default=True)[0]
    if model == "user":
        return world.officer
    if model == "importbatch":
        return ImportBatch.objects.get(pk=batch(world, role, inside)["pk"])
    if model in REVIEW_MODELS:
        return review_object(model, world, household)
    if model in SUPPORT_MODELS:
        return support_object(model, household)
    if model in ("rollup", "target"):
        return report_object(model, household)
    if model == "reportpack":
        from reports.models import ReportPack

        return ReportPack.objects.get(pk=report_pack(world, role, inside)["pk"])
    raise AssertionError(f"no test object for {model}")


def report_object(model, household):
    """A rollup or a target of `household`'s commune (stored figures; no computation needed here)."""
    from django.utils import timezone

    from reports.models import Rollup, Target

    if model == "rollup":
        return Rollup.objects.get_or_create(unit=household.commune, year=2025, stage="official",
                                            defaults={"computed_at": timezone.now()})[0]
    return Target.objects.get_or_create(unit=household.commune, year=2025, kind="rate", defaults={"value": 10})[0]


REVIEW_MODELS = {"povertystandard", "scoreitem", "screeningrule", "reviewround", "survey", "request",
                 "villagemeeting", "complaint", "householdstatus", "reviewevent"}


def review_object(model, world, household):
    """The review object of `household`'s commune (from `world.reviews`), or a standard's row."""
    from reviews.models import HouseholdStatus, ScoreItem, ScreeningRule

    review = world.reviews[household.commune_id]
    standard = review.round.standard
    if model == "povertystandard":
        return standard
    if model == "scoreitem":  # test data, not an official point table
        return ScoreItem.objects.get_or_create(standard=standard, question="T1", answer="1", area="", defaults={
            "question_text": "Câu hỏi thử", "answer_text": "Trả lời thử", "points": 5})[0]
    if model == "screeningrule":
        return ScreeningRule.objects.get_or_create(standard=standard, number=99,
                                                   defaults={"question": "Câu hỏi thử"})[0]
    if model == "reviewround":
        return review.round
    if model == "survey":
        return review.survey
    if model == "request":
        return review.request
    if model == "villagemeeting":
        return review.meeting
    if model == "complaint":
        return review.complaint
    if model == "reviewevent":
        return review.round.events.first()
    # An official status of the household (test data where no round was decided).
    status = HouseholdStatus.objects.filter(household=household).first()
    return status or HouseholdStatus.objects.create(
        household=household, year=review.round.year, category="poor", previous_category="poor",
        movement="unchanged", round=review.round, standard_code=standard.code, decided_on=review.meeting.held_on)


# --- what each role may do in the admin, per model ------------------------------

# model: (scoped by area, roles that may view, roles that may add)
ADMIN_MODELS = {
    "households.household": (True, STAFF, ["officer", "superuser"]),
    "households.member": (True, STAFF, []),
    "households.village": (True, STAFF, ["officer", "superuser"]),
    "households.ethnicity": (False, STAFF, []),
    "households.communesummary": (True, STAFF, []),
    "geo.adminunit": (True, STAFF, []),
    # The 2021 -> 2025 commune conversion: public reference data, nobody writes it in the admin.
    "geo.communesuccessor": (False, STAFF, []),
    "core.auditevent": (True, STAFF, []),
    # The log of reads of personal data, written by core.access_log only: read-only, scoped
    # (a province its province, a reviewer its unit, an officer their own reads).
    "core.personaldataaccess": (True, STAFF, []),
    "core.user": (False, ["superuser"], ["superuser"]),
    # Scoped by owner: a user's own imports (a superuser: all); read-only.
    "exchange.importbatch": (True, STAFF, []),
    # Standards: reference data, edited by superusers (the provisional standard).
    "reviews.povertystandard": (False, STAFF, ["superuser"]),
    "reviews.scoreitem": (False, STAFF, ["superuser"]),
    "reviews.screeningrule": (False, STAFF, ["superuser"]),
    # A round changes state only through its admin actions (the services): no add.
    "reviews.reviewround": (True, STAFF, []),
    "reviews.survey": (True, STAFF, []),
    "reviews.request": (True, STAFF, []),
    "reviews.villagemeeting": (True, STAFF, []),
    "reviews.complaint": (True, STAFF, []),
    "reviews.householdstatus": (True, STAFF, []),
    "reviews.reviewevent": (True, STAFF, []),
    # Report figures and targets: derived or set through the services; read-only, scoped by unit.
    "reports.rollup": (True, STAFF, []),
    "reports.target": (True, STAFF, []),
    # Report packs: prepared by the task; a user's own (a superuser: all), scoped by unit; read-only.
    "reports.reportpack": (True, STAFF, []),
    # Support: programs are reference data (national ones seen by all, edited by superusers);
    # the rest is written by the services from the support pages and looked at here.
    "programs.program": (False, STAFF, ["superuser"]),
    "programs.intervention": (True, STAFF, []),
    "programs.loan": (True, STAFF, []),
    "programs.trainingcourse": (True, STAFF, []),
    "programs.jobfair": (True, STAFF, []),
    "programs.productionproject": (True, STAFF, []),
    "programs.infrastructurework": (True, STAFF, []),
    "programs.budgetallocation": (True, STAFF, []),
    "programs.memberprofile": (True, STAFF, []),
    "programs.helper": (True, STAFF, []),
    "programs.helperassignment": (True, STAFF, []),
    "programs.visit": (True, STAFF, []),
    "programs.escaperegistration": (True, STAFF, []),
}
ADMIN_MODEL_URL = re.compile(
    r"^admin/(?P<app>\w+)/(?P<model>\w+)/(?P<rest>|add/|<path:object_id>/(?:change/|history/|delete/)?"
    r"|<id>/password/)$"
)


def expect_admin_model(app, model, rest, role, inside):
    scoped, viewers, adders = ADMIN_MODELS[f"{app}.{model}"]
    if role == "anonymous":
        return 302
    if rest == "":
        return 200 if role in viewers else 403
    if rest == "add/":
        return 200 if role in adders else 403
    if rest == "<id>/password/":
        return 200 if role == "superuser" else 403
    if rest == "<path:object_id>/":
        return 302  # redirects to the change page
    if role not in viewers:
        return 403
    if scoped and not inside and role != "superuser":
        return 404
    if rest == "<path:object_id>/delete/":
        return 403  # nothing is ever deleted
    return 200


# --- the application's own URLs ------------------------------------------------------

def by_role(anonymous, officer, reviewer, province_admin, superuser):
    """Expected answers per role; the 2025 map's reviewer has the district reviewer's rights."""
    return {"anonymous": anonymous, "officer": officer, "reviewer": reviewer, "province_admin": province_admin,
            "superuser": superuser, "reviewer2025": reviewer}


def hh(world, role, inside):
    return {"pk": household_for(world, role, inside).pk}


def batch(world, role, inside):
    """An import made by the role's own user (inside), or by another officer (outside)."""
    owner = world.officer2 if not inside or role == "anonymous" else USERS[role](world)
    return {"pk": ImportBatch.objects.filter(created_by=owner).values_list("pk", flat=True).first()}


def admin_batch(world, role, inside):
    return {"batch_id": batch(world, role, inside)["pk"]}


def review_of(world, role, inside):
    """The review objects (round, survey, meeting, complaint, request) of the commune tried."""
    return world.reviews[household_for(world, role, inside).commune_id]


def rnd(world, role, inside):
    return {"pk": review_of(world, role, inside).round.pk}


def rnd_of(world, role, inside):
    return {"round_pk": review_of(world, role, inside).round.pk}


def decided_rnd(world, role, inside):
    """The decided round of the commune tried inside; outside, the other commune's round (not found anyway)."""
    if role == "reviewer2025":
        return {"pk": world.decided_round_2025.pk} if inside else rnd(world, role, inside)
    return {"pk": world.decided_round.pk} if inside or role == "superuser" else rnd(world, role, inside)


def survey_kw(world, role, inside):
    review = review_of(world, role, inside)
    return {"round_pk": review.round.pk, "pk": review.survey.pk}


def meeting_kw(world, role, inside):
    review = review_of(world, role, inside)
    return {"round_pk": review.round.pk, "village_pk": review.meeting.village_id}


def complaint_kw(world, role, inside):
    review = review_of(world, role, inside)
    return {"round_pk": review.round.pk, "pk": review.complaint.pk}


def certificate_kw(world, role, inside):
    household = household_for(world, role, inside)
    round_pk = decided_rnd(world, role, inside)["pk"]
    return {"round_pk": round_pk, "household_pk": household.pk}


def request_kw(world, role, inside):
    return {"pk": review_of(world, role, inside).request.pk}


def unit_year(world, role, inside, **extra):
    """The figures of the commune tried, for the year of its round."""
    household = household_for(world, role, inside)
    return {"unit": household.commune_id, "year": review_of(world, role, inside).round.year, **extra}


def report_kw(world, role, inside):
    return unit_year(world, role, inside, form="7.2")


def report_pack(world, role, inside):
    """A finished report pack the role's own user asked for, of the commune tried (the file is a stand-in)."""
    from reports.models import ReportPack

    owner = USERS[role](world) if role != "anonymous" else world.officer
    commune = household_for(world, role, inside).commune
    found = ReportPack.objects.filter(created_by=owner, unit=commune).first()
    if found is None:
        found = ReportPack.objects.create(created_by=owner, unit=commune, year=2025, status=ReportPack.Status.DONE,
                                          units_total=1, units_done=1, file=ContentFile(b"PK", name="pack.xlsx"))
    return {"pk": found.pk}


def national_program(world, role, inside):
    return {"pk": support_object("program", world.household).pk}


# Inside and outside the area: the commune's officer records, the others read; POST-only actions.
RECORD = (by_role(302, 200, 403, 403, 200), by_role(302, 404, 404, 404, 200))
READ = (by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200))
POST_ONLY = (by_role(302, 405, 405, 405, 405), by_role(302, 405, 405, 405, 405))


def support_kw(model):
    """The support record of `model` belonging to the household (or commune) tried."""
    return lambda world, role, inside: {"pk": support_object(model, household_for(world, role, inside)).pk}



CSV = "Mã xã,Mã hộ,Thôn,Họ tên chủ hộ\n02794,0001,Thôn Tả Thàng,Giàng A Páo\n".encode()
USERS = {"officer": lambda w: w.officer, "reviewer": lambda w: w.reviewer,
         "province_admin": lambda w: w.province_admin, "superuser": lambda w: w.superuser,
         "reviewer2025": lambda w: w.reviewer2025}


# name: (kwargs maker or None, expected inside, expected outside)
APP_URLS = {
    "home": (None, by_role(302, 200, 200, 200, 200), None),
    "login": (None, by_role(200, 302, 302, 302, 302), None),
    "logout": (None, by_role(405, 405, 405, 405, 405), None),  # POST only
    "set_language": (None, by_role(302, 302, 302, 302, 302), None),
    "households:list": (None, by_role(302, 200, 200, 200, 200), None),
    "households:villages": (None, by_role(302, 200, 200, 200, 200), None),
    "households:create": (None, by_role(302, 200, 403, 403, 200), None),
    "households:detail": (hh, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "households:edit": (hh, by_role(302, 200, 403, 403, 200), by_role(302, 404, 404, 404, 200)),
    "households:archive": (hh, by_role(302, 200, 403, 403, 200), by_role(302, 404, 404, 404, 200)),
    "households:restore": (hh, by_role(302, 200, 403, 403, 200), by_role(302, 404, 404, 404, 200)),
    "exchange:imports": (None, by_role(302, 200, 403, 403, 200), None),
    "exchange:export": (None, by_role(302, 200, 200, 200, 200), None),
    # The official lists of a decided round, as a file: everyone who sees the round.
    "exchange:round_lists": (decided_rnd, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "exchange:batch": (batch, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "exchange:progress": (batch, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "exchange:rejected": (batch, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "exchange:confirm": (batch, by_role(302, 405, 405, 405, 405), by_role(302, 405, 405, 405, 405)),  # POST only
    "exchange:cancel": (batch, by_role(302, 405, 405, 405, 405), by_role(302, 405, 405, 405, 405)),  # POST only
    "exchange:recheck": (batch, by_role(302, 405, 405, 405, 405), by_role(302, 405, 405, 405, 405)),  # POST only
    # The uploaded file itself: only through this view, for its uploader while its communes stay in the area.
    "exchange:file": (batch, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    # The exchange format in the admin: export for everyone with a role, import for
    # the roles that may import (services.can_import), a batch only for its uploader.
    "admin:households_household_export": (None, by_role(302, 200, 200, 200, 200), None),
    "admin:households_member_export": (None, by_role(302, 200, 200, 200, 200), None),
    "admin:households_household_import": (None, by_role(302, 200, 403, 403, 200), None),
    "admin:households_member_import": (None, by_role(302, 200, 403, 403, 200), None),
    "admin:households_household_import_preview": (
        admin_batch, by_role(302, 200, 403, 403, 200), by_role(302, 404, 403, 403, 200)),
    "admin:households_member_import_preview": (
        admin_batch, by_role(302, 200, 403, 403, 200), by_role(302, 404, 403, 403, 200)),
    # Phiếu B in the admin: import-export's own import (the roles that edit surveys).
    "admin:reviews_survey_export": (None, by_role(302, 200, 200, 200, 200), None),
    "admin:reviews_survey_import": (None, by_role(302, 200, 403, 403, 200), None),
    "admin:reviews_survey_process_import": (None, by_role(302, 405, 405, 405, 405), None),  # POST only
    # Support given in the admin: the "Hỗ trợ" sheet, import-export's own import (the roles that record support).
    "admin:programs_intervention_export": (None, by_role(302, 200, 200, 200, 200), None),
    "admin:programs_intervention_import": (None, by_role(302, 200, 403, 403, 200), None),
    "admin:programs_intervention_process_import": (None, by_role(302, 405, 405, 405, 405), None),  # POST only
    "admin:index": (None, by_role(302, 200, 200, 200, 200), None),
    "admin:login": (None, by_role(200, 302, 302, 302, 302), None),
    "admin:logout": (None, by_role(302, 405, 405, 405, 405), None),  # POST only; anonymous is sent to log in
    "admin:password_change": (None, by_role(302, 200, 200, 200, 200), None),
    "admin:password_change_done": (None, by_role(302, 200, 200, 200, 200), None),
    "admin:jsi18n": (None, by_role(302, 200, 200, 200, 200), None),
    "admin:app_list": (lambda w, r, i: {"app_label": "households"}, by_role(302, 200, 200, 200, 200), None),
    # The review: everyone in the area reads; the commune's steps are its officer's,
    # approving and returning the reviewer's; a province administrator only reads.
    "reviews:rounds": (None, by_role(302, 200, 200, 200, 200), None),
    "reviews:round_new": (None, by_role(302, 200, 403, 403, 200), None),
    "reviews:round": (rnd, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:round_add": (rnd, by_role(302, 200, 403, 403, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:round_submit": (rnd, by_role(302, 405, 405, 405, 405), by_role(302, 405, 405, 405, 405)),  # POST only
    "reviews:round_approve": (rnd, by_role(302, 405, 405, 405, 405), by_role(302, 405, 405, 405, 405)),  # POST only
    "reviews:round_return": (rnd, by_role(302, 403, 200, 403, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:round_decision": (rnd, by_role(302, 200, 403, 403, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:decision_print": (decided_rnd, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:posting": (rnd, by_role(302, 200, 403, 403, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:posting_print": (rnd, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:survey": (survey_kw, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:survey_preview": (
        survey_kw, by_role(302, 405, 405, 405, 405), by_role(302, 405, 405, 405, 405)),  # POST only
    "reviews:meeting": (meeting_kw, by_role(302, 200, 403, 403, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:meeting_minutes": (meeting_kw, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:complaint_new": (rnd_of, by_role(302, 200, 403, 403, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:complaint_resolve": (
        complaint_kw, by_role(302, 200, 403, 403, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:certificate": (certificate_kw, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "reviews:requests": (None, by_role(302, 200, 200, 200, 200), None),
    "reviews:request_new": (None, by_role(302, 200, 403, 403, 200), None),
    "reviews:request_refuse": (request_kw, by_role(302, 200, 403, 403, 200), by_role(302, 404, 404, 404, 200)),
    # Figures: everyone reads the units of their area (404 outside); targets are set by the
    # province administrator and the reviewers; the default page redirects to the user's unit.
    "reports:home": (None, by_role(302, 302, 302, 302, 302), None),
    "reports:dashboard": (unit_year, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "reports:reports": (unit_year, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "reports:report": (report_kw, by_role(302, 200, 200, 200, 200), by_role(302, 404, 404, 404, 200)),
    "reports:target_new": (None, by_role(302, 403, 200, 200, 200), None),
    # The report pack: asked for by POST from the report list (a unit of the area); its page,
    # progress and file are its requester's (a superuser: any), 404 outside the area.
    "reports:pack_new": (unit_year, *POST_ONLY),  # POST only
    "reports:pack": (report_pack, *READ),
    "reports:pack_progress": (report_pack, *READ),
    "reports:pack_download": (report_pack, *READ),
    # Support: everyone in the area reads; the commune's officer records (403 for the roles that read);
    # budgets are allocated above the commune and disbursed by it.
    "programs:list": (None, by_role(302, 200, 200, 200, 200), None),
    "programs:program": (national_program, by_role(302, 200, 200, 200, 200), None),
    "programs:program_export": (national_program, by_role(302, 200, 200, 200, 200), None),
    "programs:household_panel": (hh, *READ),
    "programs:intervention_new": (hh, *RECORD),
    "programs:health_insurance_new": (hh, *RECORD),
    "programs:training_place_new": (hh, *RECORD),
    "programs:loan_new": (hh, *RECORD),
    "programs:register_escape": (hh, *RECORD),
    "programs:assign_helper": (hh, *RECORD),
    "programs:visit_new": (hh, *RECORD),
    "programs:member_profiles": (hh, *RECORD),
    "programs:intervention_deliver": (support_kw("intervention"), *POST_ONLY),  # POST only
    "programs:intervention_cancel": (support_kw("intervention"), *RECORD),
    "programs:loan_repayment": (support_kw("loan"), *RECORD),
    "programs:follow_up_done": (support_kw("visit"), *POST_ONLY),  # POST only
    "programs:assignment_end": (support_kw("helperassignment"), *RECORD),
    "programs:registration_withdraw": (support_kw("escaperegistration"), *RECORD),
    "programs:path_out": (None, by_role(302, 200, 200, 200, 200), None),
    "programs:without_helper": (None, by_role(302, 200, 200, 200, 200), None),
    "programs:follow_ups": (None, by_role(302, 200, 200, 200, 200), None),
    "programs:registrations": (None, by_role(302, 200, 200, 200, 200), None),
    "programs:helpers": (None, by_role(302, 200, 200, 200, 200), None),
    "programs:courses": (None, by_role(302, 200, 200, 200, 200), None),
    "programs:course_new": (None, by_role(302, 200, 403, 403, 200), None),
    "programs:course": (support_kw("trainingcourse"), *READ),
    "programs:job_fairs": (None, by_role(302, 200, 200, 200, 200), None),
    "programs:job_fair_new": (None, by_role(302, 200, 403, 403, 200), None),
    "programs:projects": (None, by_role(302, 200, 200, 200, 200), None),
    "programs:project_new": (None, by_role(302, 200, 403, 403, 200), None),
    "programs:project": (support_kw("productionproject"), *READ),
    "programs:works": (None, by_role(302, 200, 200, 200, 200), None),
    "programs:work_new": (None, by_role(302, 200, 403, 403, 200), None),
    "programs:work": (support_kw("infrastructurework"), *RECORD),
    "programs:budgets": (None, by_role(302, 200, 200, 200, 200), None),
    "programs:budget_new": (None, by_role(302, 403, 200, 200, 200), None),
    "programs:budget_disburse": (support_kw("budgetallocation"), *RECORD),
    "programs:report_home": (None, by_role(302, 302, 302, 302, 302), None),
    "programs:report": (unit_year, *READ),
    "programs:report_export": (unit_year, *READ),
}
SPECIAL = {"admin:autocomplete", "admin:view_on_site", "admin/(?P<url>.*)$"}


def matrix_key(route, name):
    if name in APP_URLS or name in SPECIAL:
        return name
    if route in SPECIAL:
        return route
    match = ADMIN_MODEL_URL.match(route)
    if match and f"{match['app']}.{match['model']}" in ADMIN_MODELS:
        return "admin-model"
    return None


def test_every_url_is_in_the_matrix():
    missing = [(route, name) for route, name in all_urls() if matrix_key(route, name) is None]
    assert missing == [], f"URLs with no entry in the role matrix: {missing}"


def test_every_registered_admin_model_has_a_policy():
    from django.contrib import admin

    registered = {f"{m._meta.app_label}.{m._meta.model_name}" for m in admin.site._registry}
    assert registered == set(ADMIN_MODELS)


@pytest.fixture
def matrix_world(world, settings, tmp_path):
    from .world import recognise

    settings.MEDIA_ROOT = tmp_path
    for commune in (world.tathang, world.lapantan, world.yty, world.other_commune, world.commune2025):
        summaries.refresh_commune(commune.pk)
    for user in (world.officer, world.officer2, world.reviewer, world.province_admin, world.superuser,
                 world.reviewer2025):
        made = ImportBatch.objects.create(
            created_by=user, file=ContentFile(CSV, name="ds.csv"), file_name="ds.csv",
            sha256="0" * 64, size=len(CSV), status=ImportBatch.Status.VALIDATED, rejected=1,
        )
        # The communes the check found in the file: inside each uploader's area.
        made.communes.set([world.yty if user == world.officer2 else
                           world.commune2025 if user == world.reviewer2025 else world.tathang])
    # A round in every commune the matrix tries (open, surveyed, one meeting, one
    # complaint, one request), and last year's round of Tả Thàng decided.
    world.reviews = build_reviews(world)
    world.decided_round = decided_year(world.officer, world.reviewer, world.household,
                                       world.reviews[world.tathang.pk].round.year - 1)
    # The 2025 map's commune: its list approved by the province's reviewer (no district since 2025);
    # its household is recognised poor first (a decision), so that the round lists it.
    world.household_2025 = recognise(world.household_2025, "poor", 2025)
    world.decided_round_2025 = decided_year(world.superuser, world.reviewer2025, world.household_2025,
                                            world.reviews[world.commune2025.pk].round.year - 1)
    from reports.compute import recompute_all, report_years

    for year in report_years():
        recompute_all(year)
    return world


def client_for(client, world, role):
    client.logout()
    if role != "anonymous":
        client.force_login(USERS[role](world))
    return client


def fill(route, obj):
    return route.replace("<path:object_id>", str(obj.pk)).replace("<id>", str(obj.pk))


@dataclass
class Case:
    key: str  # the URL's name, or "admin-model" (then `admin` is (app, model, rest))
    url: str
    inside: bool
    expected: int  # the answer to a GET
    admin: tuple[str, str, str] | None = None


def cases(world, role):
    """Every URL of the project with the object tried inside and outside the role's area."""
    for route, name in all_urls():
        key = matrix_key(route, name)
        for inside in (True, False):
            admin = None
            if key == "admin-model":
                match = ADMIN_MODEL_URL.match(route)
                model = match["model"]
                if "<" not in route and not inside:
                    continue
                obj = object_for(model, world, role, inside)
                url = "/" + fill(route, obj)
                expected = expect_admin_model(match["app"], model, match["rest"], role, inside)
                admin = (match["app"], model, match["rest"])
            elif key in APP_URLS:
                make_kwargs, inside_expect, outside_expect = APP_URLS[key]
                if not inside and outside_expect is None:
                    continue
                kwargs = make_kwargs(world, role, inside) if make_kwargs else {}
                url = reverse(key, kwargs=kwargs)
                expected = (inside_expect if inside else outside_expect)[role]
            elif key == "admin:view_on_site":
                household = household_for(world, role, inside)
                ct = ContentType.objects.get_for_model(household)
                url = reverse(key, args=[ct.pk, household.pk])
                expected = 302 if (role != "anonymous" and (inside or role == "superuser")) else (
                    302 if role == "anonymous" else 404)
            elif key == "admin:autocomplete":
                if not inside:
                    continue
                url = reverse(key) + "?app_label=households&model_name=household&field_name=village&term="
                expected = 302 if role == "anonymous" else 200
            elif key == "admin/(?P<url>.*)$":
                if not inside:
                    continue
                url = "/admin/no-such-page/"
                expected = 302 if role == "anonymous" else 404
            else:
                raise AssertionError(key)
            yield Case(key, url, inside, expected, admin)


def test_role_matrix(matrix_world, client):
    """Every URL read (GET) by every role, inside and outside its area (one world for all the roles:
    building it is most of the time)."""
    world = matrix_world
    failures = []
    for role in ROLES:
        client = client_for(client, world, role)
        for case in cases(world, role):
            status = client.get(case.url).status_code
            if status != case.expected:
                failures.append(f"{role} {'inside' if case.inside else 'outside'} GET {case.url}: {status}, "
                                f"expected {case.expected}")
    assert failures == [], "\n".join(failures)


def test_admin_autocomplete_lists_only_villages_in_the_area(world, client):
    client.force_login(world.officer)
    url = reverse("admin:autocomplete") + "?app_label=households&model_name=household&field_name=village&term="
    names = {item["text"] for item in client.get(url).json()["results"]}
    assert names == {"Thôn Tả Thàng"}


def test_member_of_a_household_outside_is_not_found_through_the_admin(world, client):
    client.force_login(world.officer)
    outside = Member.objects.filter(household=world.household_lapantan).first()
    url = reverse("admin:households_member_change", args=[outside.pk])
    assert client.get(url).status_code == 404


# --- the same URLs sent a POST: refused where the role has no right, and nothing written ---------------

# Pages that sign in, sign out or choose the language: they change the session, not the data.
SESSION_URLS = {"login", "logout", "set_language", "admin:login", "admin:logout"}
RECORDERS = {"officer", "superuser"}
REVIEWERS = {"reviewer", "reviewer2025", "superuser"}
# Who may change data by a POST inside their area, where the GET rights do not say it: pages every
# role reads and one role writes on, and the POST-only actions. A URL not listed whose GET refuses some
# role (403) is written by the roles that may open it; one that every role opens is read-only: a POST to
# it changes nothing, whoever sends it.
WRITERS = {
    "households:villages": {"officer"},
    # The uploader of the batch, while their role may import.
    "exchange:confirm": RECORDERS,
    "exchange:cancel": RECORDERS,
    "exchange:recheck": RECORDERS,
    "admin:reviews_survey_process_import": RECORDERS,
    "admin:programs_intervention_process_import": RECORDERS,
    "admin:password_change": set(STAFF),  # one's own password
    "reviews:survey": RECORDERS,
    "reviews:survey_preview": RECORDERS,  # classifies, saves nothing
    "reviews:round_submit": RECORDERS,
    "reviews:round_approve": REVIEWERS,
    "reports:pack_new": set(STAFF),  # a report pack of a unit of one's area
    "programs:intervention_deliver": RECORDERS,
    "programs:follow_up_done": RECORDERS,
    "programs:helpers": RECORDERS,
    "programs:course": RECORDERS,  # learners and their outcome
    "programs:project": RECORDERS,  # beneficiaries
}
# Admin pages that only show (a record's history, the redirect to its change page): no POST is tried.
READ_ONLY_ADMIN_PAGES = {"<path:object_id>/history/", "<path:object_id>/"}
# In the admin, who changes an existing record (the add rights of ADMIN_MODELS, except where listed).
ADMIN_CHANGERS = {
    "households.village": ["superuser"],  # officers add villages; renaming one is a superuser's
    "households.ethnicity": ["superuser"],
    "geo.adminunit": ["superuser"],  # names and flags of the official units, corrected by a superuser
}


def writers_of(case) -> set[str] | None:
    """The roles that may write at an application URL inside their area; None for a read-only page."""
    if case.key in WRITERS:
        return WRITERS[case.key]
    inside = APP_URLS[case.key][1] if case.key in APP_URLS else {}
    if any(inside[role] == 403 for role in STAFF):
        return {role for role in STAFF if inside[role] == 200}
    return None


def post_rule(case, role) -> tuple[set[int] | None, bool]:
    """What a POST at `case` may answer (None: anything but a server error) and whether it may write."""
    if case.key in SESSION_URLS:
        return None, False
    if role == "anonymous":
        return {302}, False
    if case.admin is not None:
        app, model, rest = case.admin
        if case.expected in (403, 404):
            return {case.expected}, False
        if rest == "<path:object_id>/":
            return {302}, False  # a redirect to the change page
        if rest in ("", "<path:object_id>/change/"):
            changers = ADMIN_CHANGERS.get(f"{app}.{model}", ADMIN_MODELS[f"{app}.{model}"][2])
            if role in changers:
                return None, True
            return ({403} if rest else None), False  # a list without rights to change: actions do nothing
        if rest in ("add/", "<id>/password/"):
            return None, True
        return None, False  # the history
    if case.key not in APP_URLS:  # view on site, autocomplete, the admin's catch-all: read-only
        return {case.expected, 405}, False
    writers = writers_of(case)
    if case.expected == 403:  # the role may not use this page anywhere
        return {403}, False
    if not case.inside and role != "superuser":
        return ({404} if writers is not None else {404, 405}), False
    if writers is None:
        return None, False
    if role in writers:
        return None, True
    return {403}, False


class _PostForm(HTMLParser):
    """The fields a browser would send with the page's main POST form (not sign-out or language)."""

    def __init__(self):
        super().__init__()
        self.forms: list[list[tuple[str, str]]] = []
        self._form: list[tuple[str, str]] | None = None
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            action = a.get("action") or ""
            wanted = (a.get("method") or "").lower() == "post" and "logout" not in action and "i18n" not in action
            self._form = [] if wanted else None
            if wanted:
                self.forms.append(self._form)
        elif self._form is None or not a.get("name") and tag != "option":
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self._form.append((a["name"], a.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "select":
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value") or "", "selected" in a))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            chosen = [value for value, selected in self._options if selected] or [v for v, _s in self._options[:1]]
            self._form.extend((self._select, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form.append((self._textarea, self._text.strip()))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._text += data


def form_body(response) -> dict[str, list[str]]:
    """The main POST form of a page as a browser would send it untouched ({} when there is none)."""
    if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
        return {}
    parser = _PostForm()
    parser.feed(response.content.decode())
    if not parser.forms:
        return {}
    body: dict[str, list[str]] = {}
    for name, value in max(parser.forms, key=len):
        body.setdefault(name, []).append(value)
    return body


def data_tables() -> list[str]:
    from django.apps import apps

    tables = {m._meta.db_table for m in apps.get_models(include_auto_created=True)
              if m._meta.managed and not m._meta.proxy}
    return sorted(tables - {"django_session"})


def data_state(tables) -> dict[str, str]:
    """A digest of every row of every table, per table (the session table aside)."""
    from django.db import connection

    state = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - our table names
            state[table] = hashlib.sha256("\n".join(sorted(map(repr, cursor.fetchall()))).encode()).hexdigest()
    return state


def test_role_matrix_post(matrix_world, client):
    """Every URL sent a POST by every role, inside and outside its area: an empty body, and where the
    role has no right the page's own form as the superuser sees it. Anonymous: sent to sign in; outside
    the area: 404; inside without the right: 403; with it: never a server error. A POST without the
    right (or to a read-only page) changes no row of any table.

    One world for all the roles (building it is most of the time): the roles that read go first,
    so that what the writers' empty posts may change comes after every refusal was checked."""
    world = matrix_world
    client.raise_request_exception = False
    reader = Client()
    reader.force_login(world.superuser)
    bodies = {}
    for case in cases(world, "superuser"):
        if case.inside and (case.key, case.admin) not in bodies and case.key not in SESSION_URLS:
            bodies[(case.key, case.admin)] = form_body(reader.get(case.url)) if case.expected == 200 else {}
    tables = data_tables()
    failures = []
    for role in ("anonymous", "province_admin", "reviewer", "reviewer2025", "officer", "superuser"):
        failures += _post_walk(client_for(client, world, role), world, role, bodies, tables)
    assert failures == [], "\n".join(failures)


def _post_walk(client, world, role, bodies, tables) -> list[str]:
    failures = []
    tried = list(cases(world, role))  # the objects tried are made here, before the first look at the data
    state = data_state(tables)
    for case in tried:
        if case.admin is not None and case.admin[2] in READ_ONLY_ADMIN_PAGES:
            continue
        if role == "anonymous" and not case.inside:
            continue  # anonymous has no area: sent to sign in from every address alike
        allowed, may_write = post_rule(case, role)
        # The page's own form too, where the role has no right there but reaches the view (the others
        # are refused before the body is read).
        form = None if may_write or role == "anonymous" or allowed == {404} else bodies.get((case.key, case.admin))
        tries = [{}, form or None]
        for body in filter(lambda b: b is not None, tries):
            response = client.post(case.url, body)
            status = response.status_code
            where = f"{role} {'inside' if case.inside else 'outside'} POST {case.url}{' (form)' if body else ''}"
            if status >= 500 or (allowed is not None and status not in allowed):
                failures.append(f"{where}: {status}, expected {sorted(allowed) if allowed else 'no server error'}")
            elif role == "anonymous" and case.key not in SESSION_URLS and "login" not in response["Location"]:
                failures.append(f"{where}: sent to {response['Location']}, not to sign in")
            if role != "anonymous" and "_auth_user_id" not in client.session:
                client.force_login(USERS[role](world))  # signed out by the logout URLs
                state = data_state(tables)
                continue
            after = data_state(tables)
            if not may_write and after != state:
                changed = sorted(t for t in tables if after[t] != state[t])
                failures.append(f"{where}: {status}, and it changed {', '.join(changed)}")
            state = after
    return failures
