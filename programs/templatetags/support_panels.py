from django import template

from core.permissions import Action, can
from programs import selectors
from programs.models import Helper, HelperAssignment, LoanBalance, Visit
from programs.services import registration_outcomes
from reviews.models import Category

register = template.Library()


@register.inclusion_tag("programs/_household_panel_slot.html")
def support_panel(household):
    """Where a household's support panel goes on its page; it is fetched after the page (htmx), so the
    household page keeps its own query count and the path out is computed only when looked at."""
    return {"household": household}


def panel_context(user, household) -> dict:
    """A household's path out, support, helper, visits and escape registrations (a fixed number of queries)."""
    supports = list(selectors.household_support(user, household)[:100])
    loans = [s.loan for s in supports if hasattr(s, "loan")]
    last = {}
    for balance in LoanBalance.objects.filter(loan__in=loans).order_by("loan_id", "on", "id"):
        last[balance.loan_id] = balance
    for loan in loans:
        balance = last.get(loan.pk)
        loan.outstanding = loan.principal if balance is None else balance.outstanding
        loan.balance_on = balance.on if balance is not None else loan.disbursed_on
    registrations = list(household.escape_registrations.filter(is_archived=False).select_related("helper")
                         .prefetch_related("programs_asked"))
    outcomes = registration_outcomes(registrations)
    path = selectors.path_out(household) if household.classification in (Category.POOR, Category.NEAR_POOR) else None
    return {
        "household": household,
        "can_record": can(user, Action.RECORD_SUPPORT) and not household.is_archived,
        "path": path,
        "supports": supports, "loans": loans,
        "assignment": HelperAssignment.objects.filter(household=household, ended_on__isnull=True)
        .select_related("helper").first(),
        "has_helpers": Helper.objects.filter(commune_id=household.commune_id, is_archived=False).exists(),
        "visits": list(Visit.objects.filter(household=household).select_related("helper")
                       .order_by("-visited_on", "-id")[:20]),
        "registrations": [(r, outcomes[r.pk]) for r in registrations],
    }
