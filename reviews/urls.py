from django.urls import path

from . import views

app_name = "reviews"

urlpatterns = [
    path("", views.round_list, name="rounds"),
    path("new/", views.round_create, name="round_new"),
    path("rounds/<int:pk>/", views.round_detail, name="round"),
    path("rounds/<int:pk>/add/", views.round_add, name="round_add"),
    path("rounds/<int:pk>/submit/", views.round_submit, name="round_submit"),
    path("rounds/<int:pk>/approve/", views.round_approve, name="round_approve"),
    path("rounds/<int:pk>/return/", views.round_return, name="round_return"),
    path("rounds/<int:pk>/decision/", views.round_decision, name="round_decision"),
    path("rounds/<int:pk>/decision/print/", views.decision_print, name="decision_print"),
    path("rounds/<int:pk>/posting/", views.posting, name="posting"),
    path("rounds/<int:pk>/posting/print/", views.posting_print, name="posting_print"),
    path("rounds/<int:round_pk>/surveys/<int:pk>/", views.survey_detail, name="survey"),
    path("rounds/<int:round_pk>/surveys/<int:pk>/preview/", views.survey_preview, name="survey_preview"),
    path("rounds/<int:round_pk>/meetings/<int:village_pk>/", views.meeting, name="meeting"),
    path("rounds/<int:round_pk>/meetings/<int:village_pk>/minutes/", views.meeting_minutes,
         name="meeting_minutes"),
    path("rounds/<int:round_pk>/complaints/new/", views.complaint_create, name="complaint_new"),
    path("rounds/<int:round_pk>/complaints/<int:pk>/resolve/", views.complaint_resolve, name="complaint_resolve"),
    path("rounds/<int:round_pk>/certificates/<int:household_pk>/", views.certificate, name="certificate"),
    path("requests/", views.request_list, name="requests"),
    path("requests/new/", views.request_create, name="request_new"),
    path("requests/<int:pk>/refuse/", views.request_refuse, name="request_refuse"),
]
