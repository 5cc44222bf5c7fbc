from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from . import throttle
from .params import INT_MAX


class ThrottledAuthenticationForm(AuthenticationForm):
    """The login form, refusing attempts while a user name or address is locked."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": _("Too many failed sign-in attempts. Try again in %(minutes)d minutes."),
    }

    def _address(self) -> str:
        if self.request is None:
            return "-"
        return self.request.META.get("REMOTE_ADDR", "-")

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = self._address()
        if throttle.is_locked(username, address):
            raise forms.ValidationError(
                self.error_messages["locked"], code="locked",
                params={"minutes": max(1, settings.LOGIN_LOCK_SECONDS // 60)},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttle.record_failure(username, address)
            raise
        throttle.clear(username, address)
        return cleaned


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
