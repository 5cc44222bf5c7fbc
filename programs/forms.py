"""Forms of the support pages: they read and type the input; the services decide what is allowed.

A form's choices come from the user's area (programs, helpers, courses, members
of the household shown); whatever a service refuses is put back on the field it
names (`attach_errors`).
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.forms import BoundedModelMultipleChoiceField
from core.scoping import communes_for
from core.submissions import OneTimeKeyMixin
from households.forms import DATE_INPUT_FORMATS, NoTagHelper, attach_errors  # noqa: F401 - re-exported
from households.models import Household, Member
from reviews.models import Category, Indicator

from . import selectors
from .models import FundingSource, Helper, InfrastructureWork, Intervention, Program, TrainingCourse

MONEY_HELP = _("In VND, a whole number (1500000).")


def date_field(label, **kwargs):
    return forms.DateField(label=label, input_formats=DATE_INPUT_FORMATS,
                           widget=forms.DateInput(attrs={"placeholder": "dd/mm/yyyy"}, format="%d/%m/%Y"), **kwargs)


# The largest sum one record holds (VND): above a national program's five-year budget (about
# 4 x 10^14), far below what a 64-bit column holds, so a mistyped number is a form error, not a crash.
MAX_MONEY = 10**15
# A count of people, places or items in one record.
MAX_COUNT = 1_000_000


def money_field(label, **kwargs):
    kwargs.setdefault("help_text", MONEY_HELP)
    return forms.IntegerField(label=label, min_value=0, max_value=MAX_MONEY, **kwargs)


class HelperMixin:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()


class ProgramChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Program) -> str:
        return f"{obj.code} – {obj.name}"


class MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Member) -> str:
        return f"{obj.full_name} ({obj.birth_year})"


def household_programs(user, household: Household, **filters):
    """Programs the household's province may give (national or its own); the service checks the date's year."""
    programs = selectors.programs_for(user).filter(**filters)
    return programs.filter(province__isnull=True) | programs.filter(province_id=household.commune.province_id)


def current_members(household: Household):
    return household.members.filter(is_archived=False).order_by("pk")


class CommuneField(forms.CharField):
    """A commune of the user's area, typed by its code (a province has hundreds; a select would be long)."""

    def __init__(self, *args, user=None, **kwargs):
        kwargs.setdefault("label", _("Commune code"))
        kwargs.setdefault("max_length", 5)
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self, value):
        code = super().clean(value).strip().zfill(5)
        commune = communes_for(self.user).filter(code=code).order_by("-edition").first()
        if commune is None:
            raise ValidationError(_("No commune with code %(code)s in your area.") % {"code": code})
        return commune


class CommuneFilterForm(HelperMixin, forms.Form):
    """Which commune of the area a list shows (a commune officer has only theirs)."""

    commune = forms.ModelChoiceField(label=_("Commune"), queryset=None, required=False,
                                     empty_label=_("All communes of my area"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["commune"].queryset = communes_for(user).filter(summary__households__gt=0).order_by("code")
        if user.role == user.Role.COMMUNE_OFFICER:  # one commune: nothing to choose
            del self.fields["commune"]


class CommuneCreateMixin:
    """A commune officer records for their commune; others with the right (superusers) type its code."""

    def add_commune_field(self, user):
        if user.role != user.Role.COMMUNE_OFFICER:
            self.fields = {"commune": CommuneField(user=user), **self.fields}

    def commune_for(self, user):
        return self.cleaned_data.get("commune") or communes_for(user).first()


# --- support to a household -----------------------------------------------------------


class InterventionForm(OneTimeKeyMixin, HelperMixin, forms.Form):
    program = ProgramChoiceField(label=_("Program"), queryset=Program.objects.none())
    member = MemberChoiceField(label=_("For the member"), queryset=Member.objects.none(), required=False,
                               empty_label=_("The whole household"))
    kind = forms.ChoiceField(label=_("Kind"), choices=[c for c in Intervention.Kind.choices
                                                       if c[0] != Intervention.Kind.LOAN])
    given_on = date_field(_("Date"))
    status = forms.ChoiceField(label=_("Status"), choices=[
        (Intervention.Status.DELIVERED, Intervention.Status.DELIVERED.label),
        (Intervention.Status.PLANNED, Intervention.Status.PLANNED.label)])
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=MAX_COUNT, initial=1)
    amount = money_field(_("Amount (VND)"), initial=0)
    funding_source = forms.ChoiceField(label=_("Funding source"), choices=FundingSource.choices)
    house_work = forms.ChoiceField(label=_("House work"), required=False,
                                   choices=[("", _("Not a house"))] + list(Intervention.HouseWork.choices))
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    program_filter: dict = {}

    def __init__(self, *args, user, household: Household, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("given_on", timezone.localdate())
        super().__init__(*args, **kwargs)
        self.household = household
        self.fields["program"].queryset = household_programs(user, household, **self.program_filter)
        self.fields["member"].queryset = current_members(household)


class HealthInsuranceForm(InterventionForm):
    """A health-insurance card paid by the state: a support of a health-insurance program."""

    program_filter = {"kind": Program.Kind.HEALTH_INSURANCE}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("kind", "house_work", "quantity"):
            del self.fields[name]
        self.fields["member"].empty_label = _("Every member of the household")
        self.fields["amount"].help_text = _("The premium paid by the state, in VND (0 if not known).")
        self.initial.setdefault("funding_source", FundingSource.CENTRAL)


class LoanForm(OneTimeKeyMixin, HelperMixin, forms.Form):
    program = ProgramChoiceField(label=_("Credit line"), queryset=Program.objects.none())
    member = MemberChoiceField(label=_("Borrower"), queryset=Member.objects.none(), required=False,
                               empty_label=_("The household"))
    principal = money_field(_("Principal (VND)"))
    disbursed_on = date_field(_("Disbursed on"))
    term_months = forms.IntegerField(label=_("Term (months)"), min_value=1, max_value=600)
    purpose = forms.CharField(label=_("Purpose"), max_length=200)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, user, household: Household, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("disbursed_on", timezone.localdate())
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = household_programs(user, household, kind=Program.Kind.POLICY_CREDIT)
        self.fields["member"].queryset = current_members(household)


class TrainingPlaceForm(OneTimeKeyMixin, HelperMixin, forms.Form):
    """A place for a member in a course of the commune, or a training place paid on its own."""

    member = MemberChoiceField(label=_("Learner"), queryset=Member.objects.none())
    course = forms.ModelChoiceField(label=_("Course"), queryset=TrainingCourse.objects.none(), required=False,
                                    empty_label=_("No course of the commune (a place paid on its own)"))
    program = ProgramChoiceField(label=_("Program"), queryset=Program.objects.none(), required=False,
                                 help_text=_("For a place paid on its own."))
    given_on = date_field(_("Date"), required=False)
    amount = money_field(_("Amount (VND)"), required=False, initial=0)
    funding_source = forms.ChoiceField(label=_("Funding source"), choices=FundingSource.choices,
                                       initial=FundingSource.CENTRAL)

    def __init__(self, *args, user, household: Household, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("given_on", timezone.localdate())
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = current_members(household)
        self.fields["course"].queryset = TrainingCourse.objects.for_user(user).filter(
            commune=household.commune, is_archived=False).select_related("program")
        # Vocational training (DA4 of Decision 90/QĐ-TTg/2022) and any program with a per-course cap.
        self.fields["program"].queryset = household_programs(user, household).filter(
            Q(code__startswith="DA4") | Q(cap_per_course__isnull=False))

    def clean(self):
        data = super().clean()
        if not data.get("course"):
            if not data.get("program") and "program" not in self.errors:
                self.add_error("program", _("Choose a course, or the program that pays the place."))
            if not data.get("given_on") and "given_on" not in self.errors:
                self.add_error("given_on", _("Enter the date."))
        return data


class EscapeRegistrationForm(OneTimeKeyMixin, HelperMixin, forms.Form):
    target_year = forms.IntegerField(label=_("To leave poverty by the year"), min_value=2000, max_value=2100)
    registered_on = date_field(_("Registered on"))
    indicators_to_fix = forms.MultipleChoiceField(label=_("Deprivations to close"), required=False,
                                                  widget=forms.CheckboxSelectMultiple)
    target_income = money_field(_("Income aimed for (VND per person per month)"), required=False)
    support_asked = forms.CharField(label=_("Support asked for"), required=False,
                                    widget=forms.Textarea(attrs={"rows": 2}))
    programs_asked = BoundedModelMultipleChoiceField(label=_("Programs asked for"), queryset=Program.objects.none(),
                                              required=False, widget=forms.CheckboxSelectMultiple)
    helper = forms.ModelChoiceField(label=_("Helper"), queryset=Helper.objects.none(), required=False)

    def __init__(self, *args, user, household: Household, path=None, **kwargs):
        today = timezone.localdate()
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("target_year", today.year + 1)
        initial.setdefault("registered_on", today)
        if path is not None:
            initial.setdefault("indicators_to_fix", [s.code for s in path.steps])
            if path.line:
                initial.setdefault("target_income", path.line)
        super().__init__(*args, **kwargs)
        # The indicators of the standards that cover the next years; the service checks the target year's.
        names = {}
        for code, name in Indicator.objects.filter(
                standard__last_year__gte=today.year, standard__province__isnull=True).order_by(
                "-standard__first_year", "number").values_list("code", "name"):
            names.setdefault(code, name)
        self.fields["indicators_to_fix"].choices = list(names.items())
        programs = household_programs(user, household).exclude(target_groups=[])
        self.fields["programs_asked"].queryset = programs
        self.fields["programs_asked"].label_from_instance = lambda p: f"{p.code} – {p.name}"
        self.fields["helper"].queryset = Helper.objects.for_user(user).filter(commune=household.commune,
                                                                              is_archived=False)


class AssignHelperForm(OneTimeKeyMixin, HelperMixin, forms.Form):
    helper = forms.ModelChoiceField(label=_("Helper"), queryset=Helper.objects.none())
    started_on = date_field(_("From"))

    def __init__(self, *args, user, household: Household, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("started_on", timezone.localdate())
        super().__init__(*args, **kwargs)
        self.fields["helper"].queryset = Helper.objects.for_user(user).filter(commune=household.commune,
                                                                              is_archived=False)


class VisitForm(OneTimeKeyMixin, HelperMixin, forms.Form):
    visited_on = date_field(_("Visited on"))
    helper = forms.ModelChoiceField(label=_("Helper"), queryset=Helper.objects.none(), required=False)
    findings = forms.CharField(label=_("What was found"), widget=forms.Textarea(attrs={"rows": 3}))
    follow_up = forms.CharField(label=_("Follow-up"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    follow_up_due = date_field(_("Follow-up due"), required=False)

    def __init__(self, *args, user, household: Household, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("visited_on", timezone.localdate())
        super().__init__(*args, **kwargs)
        self.fields["helper"].queryset = Helper.objects.for_user(user).filter(commune=household.commune,
                                                                              is_archived=False)


class ReasonForm(HelperMixin, forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class MemberProfileForm(HelperMixin, forms.Form):
    has_disability = forms.BooleanField(label=_("Person with disability"), required=False)
    low_income_applied_on = date_field(_("Applied as a low-income worker on"), required=False)


class EndAssignmentForm(HelperMixin, forms.Form):
    ended_on = date_field(_("Last day"))
    reason = forms.CharField(label=_("Why it ends"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("ended_on", timezone.localdate())
        super().__init__(*args, **kwargs)


class RepaymentForm(OneTimeKeyMixin, HelperMixin, forms.Form):
    on = date_field(_("Date"))
    amount = money_field(_("Repaid (VND)"))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("on", timezone.localdate())
        super().__init__(*args, **kwargs)


# --- commune activities --------------------------------------------------------------------


def commune_programs(user, **filters):
    return selectors.programs_for(user).filter(**filters)


class HelperCreateForm(OneTimeKeyMixin, CommuneCreateMixin, HelperMixin, forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=120)
    position = forms.ChoiceField(label=_("Position"), choices=Helper.Position.choices)
    organisation = forms.CharField(label=_("Organisation"), max_length=200, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_commune_field(user)


class CourseForm(OneTimeKeyMixin, CommuneCreateMixin, HelperMixin, forms.Form):
    program = ProgramChoiceField(label=_("Program"), queryset=Program.objects.none())
    trade = forms.CharField(label=_("Trade"), max_length=200)
    starts_on = date_field(_("Starts on"))
    ends_on = date_field(_("Ends on"))
    cost = money_field(_("Cost (VND)"), initial=0)
    funding_source = forms.ChoiceField(label=_("Funding source"), choices=FundingSource.choices)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = commune_programs(user).exclude(target_groups=[])
        self.add_commune_field(user)


class LearnersForm(HelperMixin, forms.Form):
    learners = BoundedModelMultipleChoiceField(
        label=_("Learners"), queryset=Member.objects.none(), widget=forms.SelectMultiple(attrs={"size": 10}),
        help_text=_("People of working age in the commune's poor and near-poor households; others are enrolled "
                    "from their household's page."))

    def __init__(self, *args, course: TrainingCourse, **kwargs):
        super().__init__(*args, **kwargs)
        year = timezone.localdate().year
        self.fields["learners"].queryset = Member.objects.filter(
            household__commune=course.commune, household__is_archived=False, is_archived=False,
            household__classification__in=[Category.POOR, Category.NEAR_POOR],
            birth_year__lte=year - 15, birth_year__gte=year - 60,
        ).exclude(pk__in=course.enrolments.values("member_id")).select_related("household").order_by(
            "household__code", "pk")
        self.fields["learners"].label_from_instance = lambda m: f"{m.full_name} ({m.birth_year}) – {m.household.code}"


class OutcomeForm(HelperMixin, forms.Form):
    found_work = BoundedModelMultipleChoiceField(label=_("Found work after the course"), required=False,
                                                queryset=Member.objects.none(),
                                                widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, course: TrainingCourse, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["found_work"].queryset = Member.objects.filter(
            pk__in=course.enrolments.values("member_id")).order_by("full_name")


class JobFairForm(OneTimeKeyMixin, CommuneCreateMixin, HelperMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    held_on = date_field(_("Held on"))
    participants = forms.IntegerField(label=_("Participants"), min_value=0, max_value=MAX_COUNT)
    placements = forms.IntegerField(label=_("Workers placed"), min_value=0, max_value=MAX_COUNT, initial=0)
    program = ProgramChoiceField(label=_("Program"), queryset=Program.objects.none(), required=False)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = commune_programs(user).filter(code__startswith="DA4")
        self.add_commune_field(user)


class ProjectForm(OneTimeKeyMixin, CommuneCreateMixin, HelperMixin, forms.Form):
    program = ProgramChoiceField(label=_("Program"), queryset=Program.objects.none())
    name = forms.CharField(label=_("Name"), max_length=200)
    group_name = forms.CharField(label=_("Group or cooperative"), max_length=200)
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    budget = money_field(_("Budget (VND)"), initial=0)
    funding_source = forms.ChoiceField(label=_("Funding source"), choices=FundingSource.choices)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, user, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("year", timezone.localdate().year)
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = commune_programs(user).exclude(target_groups=[])
        self.add_commune_field(user)


class BeneficiariesForm(HelperMixin, forms.Form):
    households = BoundedModelMultipleChoiceField(label=_("Households"), queryset=Household.objects.none(),
                                                widget=forms.SelectMultiple(attrs={"size": 10}))
    given_on = date_field(_("Date"))

    def __init__(self, *args, user, project, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("given_on", timezone.localdate())
        super().__init__(*args, **kwargs)
        self.fields["households"].queryset = Household.objects.for_user(user).filter(
            commune=project.commune, is_archived=False,
            classification__in=[Category.POOR, Category.NEAR_POOR]).exclude(
            pk__in=project.beneficiaries.values("pk")).order_by("code")
        self.fields["households"].label_from_instance = lambda h: f"{h.code} – {h.head_name}"


class WorkForm(OneTimeKeyMixin, CommuneCreateMixin, HelperMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    category = forms.ChoiceField(label=_("Category"), choices=InfrastructureWork.Category.choices)
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    status = forms.ChoiceField(label=_("Status"), choices=InfrastructureWork.Status.choices)
    estimated_cost = money_field(_("Estimated cost (VND)"))
    actual_cost = money_field(_("Actual cost (VND)"), required=False)
    funding_source = forms.ChoiceField(label=_("Funding source"), choices=FundingSource.choices)
    program = ProgramChoiceField(label=_("Program"), queryset=Program.objects.none(), required=False)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, user, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("year", timezone.localdate().year)
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = commune_programs(user).filter(code__startswith="DA1")
        self.add_commune_field(user)


class WorkUpdateForm(HelperMixin, forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=InfrastructureWork.Status.choices)
    estimated_cost = money_field(_("Estimated cost (VND)"))
    actual_cost = money_field(_("Actual cost (VND)"), required=False)


class AllocationForm(HelperMixin, forms.Form):
    commune = CommuneField()
    program = ProgramChoiceField(label=_("Program"), queryset=Program.objects.none())
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    funding_source = forms.ChoiceField(label=_("Funding source"), choices=FundingSource.choices)
    allocated = money_field(_("Allocated (VND)"))

    def __init__(self, *args, user, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("year", timezone.localdate().year)
        super().__init__(*args, **kwargs)
        self.fields["commune"].user = user
        self.fields["program"].queryset = commune_programs(user)


class DisbursementForm(OneTimeKeyMixin, HelperMixin, forms.Form):
    amount = money_field(_("Disbursed now (VND)"))


class YearForm(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100, required=False)
