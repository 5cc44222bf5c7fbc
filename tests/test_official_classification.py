"""One meaning of a household's classification: the category the commune's latest decision recognised.

The overview (commune summaries), the household list and its classification
filter, and the official figures count the same households; a classification
that an earlier version let an import or the form write without a decision is
brought back to the decision's by the data migration, audited.
"""

import importlib

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from core.models import AuditEvent
from households import summaries
from households.models import CommuneSummary, Household
from reports.compute import recompute_all
from reviews.models import HouseholdStatus
from reviews.reconcile import reconcile_register

from .review_world import decided_year
from .world import make_household

DECIDED_YEAR = 2025
migration = importlib.import_module("reviews.migrations.0005_register_classification_from_decisions")


def reconcile() -> int:
    return reconcile_register(Household=Household, HouseholdStatus=HouseholdStatus, AuditEvent=AuditEvent,
                              ContentType=ContentType, CommuneSummary=CommuneSummary)


def old_import(household, category, year):
    """What an import of an earlier version did: write the register's classification, no decision."""
    Household.objects.filter(pk=household.pk).update(classification=category, classification_year=year)
    summaries.refresh_commune(household.commune_id)


def counts(client, user, unit, year):
    """(overview, household list, dashboard) poor and near-poor households for a user and unit."""
    client.force_login(user)
    overview = client.get(reverse("home")).context["totals"]
    listed = {c: client.get(reverse("households:list"), {"classification": c}).context["page"].count
              for c in ("poor", "near_poor")}
    rollup = client.get(reverse("reports:dashboard", args=[unit.pk, year])).context["rollup"]
    return ((overview["poor"], overview["near_poor"]), (listed["poor"], listed["near_poor"]),
            (rollup.poor_households, rollup.near_poor_households))


def build(world):
    """Tả Thàng: a decided periodic review of DECIDED_YEAR (Giàng A Páo poor, Hầu A Dế on no list), then
    an old import makes Hầu A Dế near-poor and a household that came later poor, with no decision."""
    off_list = make_household(world.officer, world.tathang, world.village, "Hầu A Dế")
    decided_year(world.officer, world.reviewer, world.household, DECIDED_YEAR)
    later = make_household(world.officer, world.tathang, world.village, "Thào A Chá")
    old_import(off_list, "near_poor", DECIDED_YEAR)
    old_import(later, "poor", DECIDED_YEAR)
    for year in (DECIDED_YEAR, DECIDED_YEAR + 1):
        recompute_all(year)
    return off_list, later


def test_overview_household_list_and_official_figures_count_the_same_poor_households(world, client):
    off_list, later = build(world)
    before = counts(client, world.officer, world.tathang, DECIDED_YEAR)
    assert before[0] == before[1] == ((2, 1)) and before[2] == (1, 0)  # what the old import caused

    assert reconcile() == 2

    for user, unit in ((world.officer, world.tathang), (world.reviewer, world.district)):
        for year in (DECIDED_YEAR, DECIDED_YEAR + 1):
            overview, listed, figures = counts(client, user, unit, year)
            assert overview == listed == figures == (1, 0), (user, year)
    assert Household.objects.get(pk=world.household.pk).classification == "poor"


def test_reconciling_records_the_old_and_new_classification_with_the_reason(world):
    off_list, later = build(world)
    untouched = AuditEvent.objects.filter(household=world.household).count()

    migration.reconcile(apps, None)

    off_list.refresh_from_db()
    later.refresh_from_db()
    assert (off_list.classification, off_list.classification_year) == ("none", None)
    assert (later.classification, later.classification_year) == ("none", None)
    assert off_list.version == later.version == 2
    decided = HouseholdStatus.objects.get(household=off_list, round__kind="periodic").round.decision_number
    event = AuditEvent.objects.get(household=off_list, batch="classification-reconcile")
    assert event.action == "update" and event.actor is None
    assert event.changes == {"classification": ["near_poor", "none"], "classification_year": [DECIDED_YEAR, None]}
    assert decided in event.reason
    event = AuditEvent.objects.get(household=later, batch="classification-reconcile")
    assert event.changes == {"classification": ["poor", "none"], "classification_year": [DECIDED_YEAR, None]}
    assert event.reason and decided not in event.reason
    # The household whose register matched its decision is left alone, and a second run changes nothing.
    assert AuditEvent.objects.filter(household=world.household).count() == untouched
    assert reconcile() == 0
    summary = CommuneSummary.objects.get(commune=world.tathang)
    assert (summary.poor, summary.near_poor) == (1, 0)
