from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Users and audit")

    def ready(self):
        from . import checks  # noqa: F401 (registers the system checks)


class ScopedAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site, whose every lookup is scoped."""

    default = False  # named explicitly in INSTALLED_APPS
    default_site = "core.admin_site.ScopedAdminSite"
