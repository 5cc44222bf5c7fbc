"""Who may do what, where: the one place that answers it.

Services call `require(user, action, commune)` before they write; views, the
admin and templates only ask `can(user, action)` to show or hide a button or to
answer 403 early. Which records a user sees at all is not decided here but by
the scoping path (`core.scoping.communes_for`): `require` asks it only to tell
"outside your area" apart from "not your role".

The roles (README, "Roles and scope"):

- the commune officer keeps the commune's register (households, members,
  villages), runs the commune's steps of the review and records its support;
- the reviewer of the unit above the commune approves or returns the lists,
  allocates budgets and sets targets for its communes;
- the province administrator looks across the province, exports, allocates
  budgets and sets targets, and never changes households: not by a form, the
  admin or an import. Surveys and support are the commune's records too, so it
  imports none of them;
- a superuser may do everything.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from .models import User
from .scoping import communes_for

Role = User.Role


class Action(StrEnum):
    EDIT_HOUSEHOLDS = "edit_households"  # households, members, villages; archive and restore
    IMPORT_HOUSEHOLDS = "import_households"  # the exchange format's households and members
    COMMUNE_REVIEW_STEPS = "commune_review_steps"  # open, list, survey, meet, post, submit, decide; requests
    REVIEW_LISTS = "review_lists"  # approve or return a submitted list
    RECORD_SUPPORT = "record_support"  # support, loans, activities, helpers, visits, disbursements
    ALLOCATE_BUDGETS = "allocate_budgets"
    SET_TARGETS = "set_targets"
    SEE_FULL_PERSONAL_IDS = "see_full_personal_ids"


RULES: dict[Action, frozenset[str]] = {
    Action.EDIT_HOUSEHOLDS: frozenset({Role.COMMUNE_OFFICER}),
    Action.IMPORT_HOUSEHOLDS: frozenset({Role.COMMUNE_OFFICER}),
    Action.COMMUNE_REVIEW_STEPS: frozenset({Role.COMMUNE_OFFICER}),
    Action.REVIEW_LISTS: frozenset({Role.REVIEWER}),
    Action.RECORD_SUPPORT: frozenset({Role.COMMUNE_OFFICER}),
    Action.ALLOCATE_BUDGETS: frozenset({Role.REVIEWER, Role.PROVINCE_ADMIN}),
    Action.SET_TARGETS: frozenset({Role.REVIEWER, Role.PROVINCE_ADMIN}),
    Action.SEE_FULL_PERSONAL_IDS: frozenset({Role.COMMUNE_OFFICER}),
}


def _refusal(action: Action) -> str:
    """The message a refused role reads (in the user's language)."""
    return {
        Action.EDIT_HOUSEHOLDS: _("Your role may look at households but not change them."),
        Action.IMPORT_HOUSEHOLDS: _("Only commune officers import households and members: your role reads and "
                                    "exports the register but does not change it."),
        Action.COMMUNE_REVIEW_STEPS: _("Only the commune's officer records the steps of its review."),
        Action.REVIEW_LISTS: _("Only the reviewer of the unit above the commune approves or returns its list."),
        Action.RECORD_SUPPORT: _("Your role may look at support records but not change them."),
        Action.ALLOCATE_BUDGETS: _("Budgets are allocated above the commune."),
        Action.SET_TARGETS: _("Only a province administrator or a reviewer sets targets."),
        Action.SEE_FULL_PERSONAL_IDS: _("Your role sees personal IDs masked."),
    }[action]


def _commune_id(where) -> int | None:
    if where is None or isinstance(where, int):
        return where
    return where.pk


def has_role_right(user, action: Action) -> bool:
    """The role's right, wherever: may this user ever do `action`?"""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return getattr(user, "role", "") in RULES[action]


def in_area(user, commune) -> bool:
    return communes_for(user).filter(pk=_commune_id(commune)).exists()


def can(user, action: Action, commune=None) -> bool:
    """May `user` do `action` (in `commune`, a commune or its primary key, when given)?"""
    if not has_role_right(user, action):
        return False
    return commune is None or in_area(user, commune)


def require(user, action: Action, commune=None) -> None:
    """Raise PermissionDenied, saying why, unless `user` may do `action` (in `commune`)."""
    if commune is not None and not in_area(user, commune):
        raise PermissionDenied(_("This commune is outside your area."))
    if not has_role_right(user, action):
        raise PermissionDenied(_refusal(action))
