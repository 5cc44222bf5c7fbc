from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from . import throttle
from .params import INT_MAX


class ThrottledLoginMessageMixin:
    """Says "too many attempts" when the throttle refused the attempt without checking it.

    The throttle itself is the authentication backend (core.throttle), so every
    sign-in path is counted whatever form it uses; this only chooses the message.
    """

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": _("Too many failed sign-in attempts. Try again in %(minutes)d minutes."),
    }

    def get_invalid_login_error(self):
        if getattr(self.request, throttle.LOCKED_ATTRIBUTE, False):
            return forms.ValidationError(
                self.error_messages["locked"], code="locked",
                params={"minutes": max(1, settings.LOGIN_LOCK_SECONDS // 60)},
            )
        return super().get_invalid_login_error()


class ThrottledAuthenticationForm(ThrottledLoginMessageMixin, AuthenticationForm):
    """The sign-in page's form."""


class ThrottledAdminAuthenticationForm(ThrottledLoginMessageMixin, AdminAuthenticationForm):
    """The admin's sign-in form."""

    # The admin's own wording of a wrong password (it mentions staff accounts), plus "locked".
    error_messages = {**ThrottledLoginMessageMixin.error_messages, **AdminAuthenticationForm.error_messages}


class BoundedModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A multiple choice of records whose submitted keys are checked before the look-up.

    Django looks the chosen keys up with `pk__in`; a key beyond an integer column's range makes
    the database driver raise (SQLite: OverflowError) instead of "not one of the choices".
    """

    def _check_values(self, value):
        key = self.to_field_name or "pk"
        field = self.queryset.model._meta.pk if key == "pk" else self.queryset.model._meta.get_field(key)
        if field.get_internal_type() in ("AutoField", "BigAutoField", "IntegerField", "BigIntegerField",
                                         "PositiveIntegerField", "PositiveBigIntegerField", "SmallAutoField"):
            for pk in value:
                text = str(pk).strip()
                if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= INT_MAX):
                    raise forms.ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value",
                                                params={"pk": pk})
        return super()._check_values(value)
