from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard_home, name="home"),
    path("targets/new/", views.target_new, name="target_new"),
    path("<int:unit>/<int:year>/", views.dashboard, name="dashboard"),
    path("<int:unit>/<int:year>/reports/", views.report_list, name="reports"),
    path("<int:unit>/<int:year>/pack/", views.pack_new, name="pack_new"),
    path("packs/<int:pk>/", views.pack_detail, name="pack"),
    path("packs/<int:pk>/progress/", views.pack_progress, name="pack_progress"),
    path("packs/<int:pk>/download/", views.pack_download, name="pack_download"),
    path("<int:unit>/<int:year>/<str:form>/", views.report, name="report"),
]
