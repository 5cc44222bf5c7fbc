from django.urls import path

from . import views

app_name = "programs"

urlpatterns = [
    path("", views.program_list, name="list"),
    path("<int:pk>/", views.program_detail, name="program"),
    path("<int:pk>/eligible/", views.program_export, name="program_export"),
    path("households/<int:pk>/support/", views.intervention_new, name="intervention_new"),
    path("households/<int:pk>/health-insurance/", views.health_insurance_new, name="health_insurance_new"),
    path("households/<int:pk>/training/", views.training_place_new, name="training_place_new"),
    path("households/<int:pk>/loan/", views.loan_new, name="loan_new"),
    path("households/<int:pk>/escape/", views.register_escape, name="register_escape"),
    path("households/<int:pk>/helper/", views.assign_helper, name="assign_helper"),
    path("households/<int:pk>/visit/", views.visit_new, name="visit_new"),
    path("support/<int:pk>/deliver/", views.intervention_deliver, name="intervention_deliver"),
    path("support/<int:pk>/cancel/", views.intervention_cancel, name="intervention_cancel"),
    path("loans/<int:pk>/repayment/", views.loan_repayment, name="loan_repayment"),
    path("visits/<int:pk>/done/", views.follow_up_done, name="follow_up_done"),
    path("path-out/", views.path_out_list, name="path_out"),
    path("without-helper/", views.without_helper, name="without_helper"),
    path("follow-ups/", views.follow_ups, name="follow_ups"),
    path("registrations/", views.registration_list, name="registrations"),
    path("helpers/", views.helper_list, name="helpers"),
    path("courses/", views.course_list, name="courses"),
    path("courses/new/", views.course_new, name="course_new"),
    path("courses/<int:pk>/", views.course_detail, name="course"),
    path("job-fairs/", views.job_fair_list, name="job_fairs"),
    path("job-fairs/new/", views.job_fair_new, name="job_fair_new"),
    path("projects/", views.project_list, name="projects"),
    path("projects/new/", views.project_new, name="project_new"),
    path("projects/<int:pk>/", views.project_detail, name="project"),
    path("works/", views.work_list, name="works"),
    path("works/new/", views.work_new, name="work_new"),
    path("works/<int:pk>/", views.work_update, name="work"),
    path("budgets/", views.budget_list, name="budgets"),
    path("budgets/new/", views.budget_allocate, name="budget_new"),
    path("budgets/<int:pk>/disburse/", views.budget_disburse, name="budget_disburse"),
    path("report/", views.report_home, name="report_home"),
    path("report/<int:unit>/<int:year>/", views.report, name="report"),
    path("report/<int:unit>/<int:year>/xlsx/", views.report_export, name="report_export"),
]
