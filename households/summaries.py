"""Headline counts per commune (households.CommuneSummary)."""

from django.db.models import Count, Q, Sum

from geo.models import AdminUnit

from .models import CommuneSummary, Household


def commune_counts(households) -> dict:
    """The headline counts of one commune's households (a queryset; a migration passes its own model's)."""
    poor, near, middle = (Household.Classification.POOR.value, Household.Classification.NEAR_POOR.value,
                          Household.Classification.MIDDLE.value)
    active = Q(is_archived=False)
    return households.aggregate(
        households=Count("pk", filter=active),
        members=Sum("member_count", filter=active, default=0),
        poor=Count("pk", filter=active & Q(classification=poor)),
        near_poor=Count("pk", filter=active & Q(classification=near)),
        middle=Count("pk", filter=active & Q(classification=middle)),
        ethnic_minority=Count("pk", filter=active & Q(is_ethnic_minority=True)),
        archived=Count("pk", filter=Q(is_archived=True)),
    )


def refresh_commune(commune_id: int) -> dict:
    """Recount one commune from its households: idempotent, never incremental."""
    counts = commune_counts(Household.objects.filter(commune_id=commune_id))
    if AdminUnit.objects.filter(pk=commune_id, level=AdminUnit.Level.COMMUNE).exists():
        CommuneSummary.objects.update_or_create(commune_id=commune_id, defaults=counts)
    return counts


def totals(communes) -> dict:
    """Sum the summaries of a set of communes (a user's area)."""
    fields = ["households", "members", "poor", "near_poor", "middle", "ethnic_minority", "archived"]
    sums = CommuneSummary.objects.filter(commune__in=communes).aggregate(
        **{name: Sum(name, default=0) for name in fields}
    )
    sums["poor_rate"] = (100 * sums["poor"] / sums["households"]) if sums["households"] else None
    sums["near_poor_rate"] = (100 * sums["near_poor"] / sums["households"]) if sums["households"] else None
    return sums
