"""Templates ask core.permissions, never the role: `{% if user|can:"import_households" %}`."""

from django import template

from core.permissions import Action
from core.permissions import can as _can

register = template.Library()


@register.filter
def can(user, action: str) -> bool:
    return _can(user, Action(action))
