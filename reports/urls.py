from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard_home, name="home"),
    path("targets/new/", views.target_new, name="target_new"),
    path("<int:unit>/<int:year>/", views.dashboard, name="dashboard"),
    path("<int:unit>/<int:year>/reports/", views.report_list, name="reports"),
    path("<int:unit>/<int:year>/<str:form>/", views.report, name="report"),
]
