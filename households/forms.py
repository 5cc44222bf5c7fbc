from crispy_forms.helper import FormHelper
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.params import positive_int
from core.scoping import communes_for
from core.text import SEARCH_MAX_CHARS, capped_search
from geo.models import AdminUnit

from . import services
from .models import Ethnicity, Household, Member, Village

DATE_INPUT_FORMATS = ["%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%d"]
# A change form sent without the version it was opened at (a stale page, a hand-made post):
# refused, since nothing could show that it was made from the current record.
MISSING_VERSION = _("This form came without the version of the record it was opened at, so it cannot be "
                    "checked against changes made since. Open the record again and repeat your changes.")


class NoTagHelper(FormHelper):
    """Crispy layout without its own <form> tag: our templates hold the form."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form_tag = False
        self.disable_csrf = True


def attach_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form fields it names."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            target = name if name in form.fields else None
            for item in errors:
                form.add_error(target, item)
    else:
        form.add_error(None, error)


class HouseholdFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False,
                        widget=forms.TextInput(attrs={"placeholder": _("Name, code or phone – accents optional"),
                                                      "type": "search", "autofocus": False,
                                                      "maxlength": SEARCH_MAX_CHARS}))
    commune = forms.ModelChoiceField(label=_("Commune"), queryset=AdminUnit.objects.none(), required=False)
    village = forms.ModelChoiceField(label=_("Village"), queryset=Village.objects.none(), required=False)
    classification = forms.ChoiceField(
        label=_("Classification"), required=False,
        choices=[("", _("All"))] + list(Household.Classification.choices),
    )
    ethnic_minority = forms.ChoiceField(
        label=_("Ethnic minority"), required=False,
        choices=[("", _("All")), ("yes", _("Ethnic-minority households")), ("no", _("Others"))],
    )
    archived = forms.ChoiceField(
        label=_("Archived"), required=False,
        choices=[("", _("Current households")), ("yes", _("Archived only")), ("all", _("Both"))],
    )
    per_page = forms.TypedChoiceField(
        label=_("Rows per page"), required=False, coerce=int, empty_value=25,
        choices=[(25, "25"), (50, "50"), (100, "100")],
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Any commune of the area is a valid filter (a link from the figures pages may name one
        # whose summary is not counted yet); the picker offers those that hold households, and the
        # one asked for, so a province's list stays short.
        villages = Village.objects.for_user(user).order_by("name")
        if user.role == "commune_officer":
            del self.fields["commune"]
        else:
            area = communes_for(user).order_by("code")
            asked = positive_int(self.data.get("commune")) if self.is_bound else None
            shown = area.filter(Q(summary__households__gt=0) | Q(pk=asked))
            self.fields["commune"].queryset = area
            self.fields["commune"].choices = [("", self.fields["commune"].empty_label),
                                              *((c.pk, str(c)) for c in shown)]
            # Villages of the chosen commune only: a province has thousands.
            commune_id = asked
            villages = villages.filter(commune_id=commune_id) if commune_id else villages.none()
            self.fields["village"].help_text = _("Choose a commune first.")
        self.fields["village"].queryset = villages
        self.helper = NoTagHelper()

    def clean_q(self) -> str:
        # A longer search is cut, not refused (the view says so): the list still answers.
        return capped_search(self.cleaned_data.get("q"))


class HouseholdForm(forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Household
        # No classification: only a commune decision recognises one (reviews.services.record_decision).
        fields = ["village", "code", "area", "is_farm", "phone", "has_meritorious_member",
                  "is_social_protection"]

    def __init__(self, *args, commune: AdminUnit, **kwargs):
        super().__init__(*args, **kwargs)
        self.commune = commune
        self.fields["village"].queryset = Village.objects.filter(commune=commune, is_archived=False)
        self.fields["code"].required = False
        self.fields["code"].help_text = _("Leave empty to take the next free number.")
        self.fields["area"].required = False
        self.fields["area"].help_text = _("Leave empty to use the commune's: %(area)s.") % {
            "area": _("urban") if commune.is_urban else _("rural")}
        if self.instance.pk:
            self.fields["version"].initial = self.instance.version
        self.helper = NoTagHelper()

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and cleaned.get("version") is None and "version" not in self.errors:
            # Without it the save could not tell whether someone changed the household meanwhile.
            self.add_error(None, MISSING_VERSION)
        # The same checks the service makes, so errors land beside their fields.
        try:
            services.clean_household_values(cleaned, self.commune)
        except ValidationError as exc:
            attach_errors(self, exc)
        return cleaned

    def _post_clean(self):
        # The service validates and saves; skip ModelForm's instance validation,
        # which would check uniqueness against the half-built instance.
        pass


class MemberForm(forms.Form):
    member_id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    full_name = forms.CharField(label=_("Full name"), max_length=120)
    sex = forms.ChoiceField(label=_("Sex"), choices=[("", "—")] + list(Member.Sex.choices))
    birth_date = forms.DateField(label=_("Date of birth"), required=False, input_formats=DATE_INPUT_FORMATS,
                                 widget=forms.DateInput(attrs={"placeholder": "dd/mm/yyyy"}, format="%d/%m/%Y"))
    birth_year = forms.IntegerField(label=_("Year of birth"), required=False, min_value=1900, max_value=2100)
    personal_id = forms.CharField(label=_("Personal ID"), required=False, max_length=20,
                                  widget=forms.TextInput(attrs={"inputmode": "numeric"}))
    ethnicity = forms.ModelChoiceField(label=_("Ethnic group"), queryset=Ethnicity.objects.all())
    relation = forms.ChoiceField(label=_("Relation to head"), choices=[("", "—")] + list(Member.Relation.choices))
    has_health_insurance = forms.BooleanField(label=_("Health-insurance card"), required=False)
    remove = forms.BooleanField(label=_("Remove from household"), required=False)
    leave_reason = forms.CharField(label=_("Reason for leaving"), required=False, max_length=200)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if cleaned.get("remove"):
            if not cleaned.get("member_id"):
                return cleaned  # a new row ticked for removal is simply dropped
            if not (cleaned.get("leave_reason") or "").strip():
                self.add_error("leave_reason", _("Say why this member leaves the household."))
            return cleaned
        values = {name: cleaned.get(name) for name in services.MEMBER_FIELDS}
        values["personal_id"] = values["personal_id"] or ""
        try:
            cleaned.update(services.clean_member_values(values))
        except ValidationError as exc:
            attach_errors(self, exc)
        return cleaned


class BaseMemberFormSet(forms.BaseFormSet):
    default_error_messages = {
        "too_many_forms": _("A household is entered with at most %(num)d members; leave out the extra rows, "
                            "or ask the administrator if a household truly has more."),
    }

    def clean(self):
        if any(self.errors):
            return
        heads = sum(
            1 for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("remove")
            and form.cleaned_data.get("relation") == Member.Relation.HEAD
        )
        if heads != 1:
            raise ValidationError(_("A household has exactly one head; this one has %(count)d.") % {"count": heads})


# The most members one household form takes. Each row is validated on its own (its ethnic
# group looked up, its personal ID checked), so the form's work grows with the rows a post
# claims; Django's default of 1,000 rows let one crafted post hold a worker for 24 s.
MAX_MEMBERS = 40

MemberFormSet = forms.formset_factory(MemberForm, formset=BaseMemberFormSet, extra=1, min_num=1,
                                      validate_min=True, max_num=MAX_MEMBERS, validate_max=True,
                                      absolute_max=MAX_MEMBERS)


def member_initial(member: Member) -> dict:
    return {
        "member_id": member.pk, "full_name": member.full_name, "sex": member.sex,
        "birth_date": member.birth_date, "birth_year": member.birth_year,
        "personal_id": member.personal_id, "ethnicity": member.ethnicity_id,
        "relation": member.relation, "has_health_insurance": member.has_health_insurance,
    }


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=1000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()


class VillageForm(forms.Form):
    name = forms.CharField(label=_("Village name"), max_length=120)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()


class CommunePickForm(forms.Form):
    """For users whose area holds several communes: which one the new household is in."""

    commune_code = forms.CharField(label=_("Commune code"), max_length=5)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.helper = NoTagHelper()

    def clean_commune_code(self):
        code = self.cleaned_data["commune_code"].strip().zfill(5)
        commune = communes_for(self.user).filter(code=code).order_by("-edition").first()
        if commune is None:
            raise ValidationError(_("No commune with code %(code)s in your area.") % {"code": code})
        return commune
