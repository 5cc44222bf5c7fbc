from django import template
from django.utils.translation import gettext as _

from households.models import Member
from households.validators import mask_personal_id

register = template.Library()


def _display(field, value):
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int):
        return str(value)  # years and counts, never "1.979"
    choices = dict(field.flatchoices) if field.choices else None
    if choices and value in choices:
        return choices[value]
    return value


@register.simple_tag
def change_rows(event, user):
    """[(field label, before, after)] of an audit event, in the viewer's language,
    with personal IDs masked for viewers who may not see them whole."""
    model = event.content_type.model_class()
    rows = []
    for name, (before, after) in (event.changes or {}).items():
        try:
            field = model._meta.get_field(name)
        except Exception:  # a field since removed: show its name
            rows.append((name, before, after))
            continue
        if name == "personal_id" and not user.sees_full_personal_ids:
            before, after = mask_personal_id(before or ""), mask_personal_id(after or "")
        rows.append((field.verbose_name, _display(field, before), _display(field, after)))
    return rows


@register.filter
def personal_id_for(member: Member, user) -> str:
    if not member.personal_id:
        return ""
    return member.personal_id if user.sees_full_personal_ids else member.masked_personal_id
