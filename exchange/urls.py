from django.urls import path

from . import views

app_name = "exchange"

urlpatterns = [
    path("imports/", views.import_list, name="imports"),
    path("imports/<int:pk>/", views.batch_detail, name="batch"),
    path("imports/<int:pk>/progress/", views.batch_progress, name="progress"),
    path("imports/<int:pk>/confirm/", views.batch_confirm, name="confirm"),
    path("imports/<int:pk>/cancel/", views.batch_cancel, name="cancel"),
    path("imports/<int:pk>/recheck/", views.batch_recheck, name="recheck"),
    path("imports/<int:pk>/file/", views.batch_file, name="file"),
    path("imports/<int:pk>/rejected/", views.batch_rejected_rows, name="rejected"),
    path("exports/", views.export_page, name="export"),
    path("exports/lists/round/<int:pk>/", views.round_lists, name="round_lists"),
]
