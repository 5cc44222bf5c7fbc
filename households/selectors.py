"""Scoped reads of the registry. Every one starts from `.for_user(user)`."""

from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When

from core.models import AuditEvent
from core.text import search_terms

from .models import Household, Member, Village


def household_list(user, *, q: str = "", commune=None, village=None, classification: str = "",
                   ethnic_minority: str = "", archived: str = "") -> QuerySet[Household]:
    households = Household.objects.for_user(user).select_related("commune", "village")
    if archived == "yes":
        households = households.filter(is_archived=True)
    elif archived != "all":
        households = households.filter(is_archived=False)
    if commune is not None:
        households = households.filter(commune=commune)
    if village is not None:
        households = households.filter(village=village)
    if classification:
        households = households.filter(classification=classification)
    if ethnic_minority == "yes":
        households = households.filter(is_ethnic_minority=True)
    elif ethnic_minority == "no":
        households = households.filter(is_ethnic_minority=False)
    # Each folded word must appear in the folded search column (indexed with
    # trigrams on PostgreSQL), so "giang a pao" finds "Giàng A Páo".
    for term in search_terms(q):
        households = households.filter(search_text__contains=term)
    # (commune, code) is unique and follows the `household_list` index, so a page is an
    # index walk, not a sort of the whole area; communes were loaded in code order.
    return households.order_by("commune_id", "code")


def household_for_user(user, pk: int) -> Household:
    """One household in the user's area, with members; raises DoesNotExist outside it."""
    head_first = Case(When(relation=Member.Relation.HEAD, then=Value(0)), default=Value(1),
                      output_field=IntegerField())
    members = Member.objects.select_related("ethnicity").order_by("is_archived", head_first, "birth_year", "pk")
    return (
        Household.objects.for_user(user)
        .select_related("commune__parent", "village", "created_by", "updated_by", "archived_by")
        .prefetch_related(Prefetch("members", queryset=members))
        .get(pk=pk)
    )


def household_history(household: Household) -> QuerySet[AuditEvent]:
    return household.audit_events.select_related("actor", "content_type").order_by("-at", "-id")


def villages_for(user) -> QuerySet[Village]:
    return Village.objects.for_user(user).select_related("commune").order_by("commune__code", "name")
