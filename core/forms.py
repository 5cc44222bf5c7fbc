from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from . import throttle


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
