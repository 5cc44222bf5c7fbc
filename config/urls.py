from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from core.forms import ThrottledAuthenticationForm
from core.views import home

admin.site.site_header = _("Poverty review – administration")
admin.site.site_title = _("Poverty review")
admin.site.index_title = _("Administration")

urlpatterns = [
    path("", home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("households/", include("households.urls")),
    path("reviews/", include("reviews.urls")),
    path("programs/", include("programs.urls")),
    path("reports/", include("reports.urls")),
    path("", include("exchange.urls")),
    path("admin/", admin.site.urls),
]
# Uploaded and generated files (MEDIA_ROOT) are never served as static files, in any
# setting: each is downloaded through a view that checks the user and the area
# (exchange:file, exchange:rejected, reports:pack_download).
