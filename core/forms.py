from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from . import throttle


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
