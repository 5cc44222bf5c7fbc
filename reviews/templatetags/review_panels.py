from django import template

from reviews import selectors

register = template.Library()


@register.simple_tag
def household_reviews(household, user):
    """A household's surveys and official statuses, for the panel on its page (two queries), and the
    decision that recognised its classification on the register (None when no decision did)."""
    statuses = list(selectors.household_statuses(user, household)[:20])
    return {
        "surveys": list(selectors.household_surveys(user, household)[:20]),
        "statuses": statuses,
        "recognised_by": selectors.recognising_status(household, statuses),
    }
