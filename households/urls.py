from django.urls import path

from . import views

app_name = "households"

urlpatterns = [
    path("", views.household_list, name="list"),
    path("new/", views.household_create, name="create"),
    path("<int:pk>/", views.household_detail, name="detail"),
    path("<int:pk>/edit/", views.household_edit, name="edit"),
    path("<int:pk>/archive/", views.household_archive, name="archive"),
    path("<int:pk>/restore/", views.household_restore, name="restore"),
    path("villages/", views.village_list, name="villages"),
]
