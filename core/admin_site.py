from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.http import Http404, HttpResponseRedirect
from django.urls import path
from django.utils.translation import gettext as _

from .forms import ThrottledAdminAuthenticationForm


class ScopedAdminSite(admin.AdminSite):
    """The admin site, with its "view on site" redirect going through the scoping path.

    Django's own redirect looks the object up unscoped, which would tell a user
    whether a household outside their area exists.

    Its sign-in form says when the throttle refused an attempt; the throttle itself
    is the authentication backend, shared with the sign-in page.
    """

    login_form = ThrottledAdminAuthenticationForm

    def get_urls(self):
        urls = super().get_urls()
        scoped = path("r/<int:content_type_id>/<path:object_id>/", self.admin_view(self.view_on_site),
                      name="view_on_site")
        return [scoped if getattr(u, "name", None) == "view_on_site" else u for u in urls]

    def view_on_site(self, request, content_type_id, object_id):
        try:
            content_type = ContentType.objects.get_for_id(content_type_id)
        except ContentType.DoesNotExist:
            raise Http404(_("No such record in your area.")) from None
        model = content_type.model_class()
        model_admin = self._registry.get(model)
        if model is None or model_admin is None or not model_admin.has_view_permission(request):
            raise Http404(_("No such record in your area."))
        obj = model_admin.get_queryset(request).filter(pk=object_id).first() if str(object_id).isdigit() else None
        if obj is None or not hasattr(obj, "get_absolute_url"):
            raise Http404(_("No such record in your area."))
        return HttpResponseRedirect(obj.get_absolute_url())

