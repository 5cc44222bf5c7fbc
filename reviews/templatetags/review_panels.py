from django import template

from reviews import selectors

register = template.Library()


@register.simple_tag
def household_reviews(household, user):
    """A household's surveys and official statuses, for the panel on its page (two queries)."""
    return {
        "surveys": list(selectors.household_surveys(user, household)[:20]),
        "statuses": list(selectors.household_statuses(user, household)[:20]),
    }
