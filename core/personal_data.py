"""Personal IDs shown in part to the people who may not see them whole.

Only the people who keep the register (commune officers, superusers:
`User.sees_full_personal_ids`) read whole personal IDs; everyone else, on every
page, in the admin and in exports, sees the masked form. It keeps enough digits
(the first three, the province of birth registration; the last two) to tell
people apart on a list without disclosing the number (Decree 13/2023/NĐ-CP).
"""

from typing import Any

MASK = "•"
# The audited fields that hold a personal ID.
PERSONAL_ID_FIELDS = frozenset({"personal_id"})


def mask_personal_id(value: str) -> str:
    """A personal ID with its middle hidden ("010•••••••45"), for people who do not need it whole."""
    if not value:
        return ""
    return value[:3] + MASK * (len(value) - 5) + value[-2:]


def is_masked_personal_id(value: str) -> bool:
    return MASK in (value or "")


def masked_changes(changes: dict[str, Any] | None) -> dict[str, Any]:
    """An audit event's {field: [before, after]} with the personal IDs masked."""
    shown = dict(changes or {})
    for name in PERSONAL_ID_FIELDS & shown.keys():
        value = shown[name]
        if isinstance(value, (list, tuple)):
            shown[name] = [mask_personal_id(v) if isinstance(v, str) else v for v in value]
        elif isinstance(value, str):
            shown[name] = mask_personal_id(value)
    return shown


def shows_personal_ids(changes: dict[str, Any] | None) -> bool:
    """Whether an audit event's changes carry a personal ID (not blank)."""
    return any(
        any(isinstance(v, str) and v for v in (value if isinstance(value, (list, tuple)) else [value]))
        for name, value in (changes or {}).items() if name in PERSONAL_ID_FIELDS
    )
