"""Forms of the review pages. They parse and check input; the services decide."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.scoping import communes_for
from core.submissions import OneTimeKeyMixin
from households.forms import DATE_INPUT_FORMATS, MISSING_VERSION, NoTagHelper, attach_errors  # noqa: F401 - re-exported

from . import selectors
from .models import Complaint, PovertyCause, Request, ReviewRound, Survey


def date_field(label, **kwargs):
    return forms.DateField(label=label, input_formats=DATE_INPUT_FORMATS,
                           widget=forms.DateInput(attrs={"placeholder": "dd/mm/yyyy"}, format="%d/%m/%Y"), **kwargs)


class HelperMixin:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()


class RoundFilterForm(HelperMixin, forms.Form):
    year = forms.IntegerField(label=_("Year"), required=False, min_value=2000, max_value=2100)
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("All"))] + list(ReviewRound.Status.choices))


def commune_from_code(user, code: str):
    code = (code or "").strip().zfill(5)
    commune = communes_for(user).filter(code=code).order_by("-edition").first()
    if commune is None:
        raise ValidationError(_("No commune with code %(code)s in your area.") % {"code": code})
    return commune


class RoundForm(HelperMixin, forms.Form):
    commune_code = forms.CharField(label=_("Commune code"), max_length=5)
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    kind = forms.ChoiceField(label=_("Kind"), choices=ReviewRound.Kind.choices,
                             initial=ReviewRound.Kind.PERIODIC, widget=forms.RadioSelect)
    month = forms.IntegerField(label=_("Month of the batch"), required=False, min_value=1, max_value=12,
                               help_text=_("Only for a regular review: its batch starts on the 15th of the month."))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["year"].initial = timezone.localdate().year
        if user.role == user.Role.COMMUNE_OFFICER:
            del self.fields["commune_code"]

    def clean_commune_code(self):
        return commune_from_code(self.user, self.cleaned_data["commune_code"])

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == ReviewRound.Kind.REGULAR and not cleaned.get("month"):
            self.add_error("month", _("A regular review needs the month of its batch (1–12)."))
        return cleaned


# Numbers a person types, bounded so that a slip is a form error, not a number no column holds:
# people at a village meeting, and an income per person per month (VND).
MAX_ATTENDANCE = 100_000
MAX_INCOME = 10**12
# Household codes added by hand at once: a few households the commune knows need a look,
# not the register (each code is one more parameter of the look-up).
MAX_ADDED_CODES = 200
# A reviewer's comments: a paragraph on the list, a sentence or two on a household.
MAX_COMMENT = 2000
MAX_HOUSEHOLD_NOTE = 500


class AddHouseholdsForm(HelperMixin, forms.Form):
    codes = forms.CharField(
        label=_("Household codes"), widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One or more codes of households of this commune, separated by commas, spaces or lines."),
    )

    def clean_codes(self) -> str:
        codes = self.cleaned_data["codes"]
        if len(self._split(codes)) > MAX_ADDED_CODES:
            raise forms.ValidationError(
                _("Add at most %(n)d households at a time; a whole register comes in by an import.")
                % {"n": MAX_ADDED_CODES})
        return codes

    @staticmethod
    def _split(raw: str) -> list[str]:
        raw = raw.replace(",", " ").replace(";", " ")
        return list(dict.fromkeys(code for code in raw.split() if code))

    def codes_list(self) -> list[str]:
        return self._split(self.cleaned_data["codes"])


class SurveyForm(HelperMixin, forms.Form):
    """Phiếu A (when the household asked by a request) and Phiếu B of one household."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    income = forms.IntegerField(
        label=_("Income per person per month (VND)"), required=False, min_value=0, max_value=MAX_INCOME,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "step": 1000}),
        help_text=_("Enter the income or score A, not both."),
    )
    score_a = forms.IntegerField(label=_("Score A (Phiếu B points)"), required=False, min_value=0, max_value=10_000,
                                 widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    is_farm = forms.BooleanField(label=_("Works in agriculture, forestry, fishery or salt-making"), required=False)
    demographic_change = forms.ChoiceField(label=_("Demographic change"), required=False,
                                           choices=[("", _("None"))] + list(Survey.Demographic.choices))
    causes = forms.MultipleChoiceField(
        label=_("Causes of poverty"), required=False, choices=PovertyCause.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Asked of a household found poor or near-poor; kept only for those (form 7.10)."),
    )

    def __init__(self, *args, survey: Survey, rules, indicators, **kwargs):
        super().__init__(*args, **kwargs)
        self.survey = survey
        self.rules = list(rules) if survey.origin == Survey.Origin.REQUEST or survey.request_id else []
        self.indicators = list(indicators)
        answers = survey.screening or {}
        for rule in self.rules:
            previous = answers.get(str(rule.number))
            self.fields[f"q{rule.number}"] = forms.TypedChoiceField(
                label=f"{rule.number}. {rule.question}", choices=[("yes", _("Yes")), ("no", _("No"))],
                coerce=lambda value: value == "yes", widget=forms.RadioSelect, required=False,
                initial=None if previous is None else ("yes" if previous else "no"),
            )
        deprivations = survey.deprivations or {}
        for indicator in self.indicators:
            self.fields[indicator.code] = forms.BooleanField(
                label=f"{indicator.number}. {indicator.name}", required=False, help_text=indicator.help_text,
                initial=bool(deprivations.get(indicator.code)),
            )
        if not self.is_bound:
            self.initial.update({"expected_version": survey.version, "income": survey.income,
                                 "score_a": survey.score_a, "is_farm": survey.is_farm,
                                 "demographic_change": survey.demographic_change, "causes": survey.causes})

    def screening_fields(self):
        return [self[f"q{rule.number}"] for rule in self.rules]

    def indicator_fields(self):
        return [self[indicator.code] for indicator in self.indicators]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("expected_version") is None and "expected_version" not in self.errors:
            # Without it the save could not tell whether someone changed the survey meanwhile.
            self.add_error(None, MISSING_VERSION)
        for rule in self.rules:
            if cleaned.get(f"q{rule.number}") in (None, ""):
                self.add_error(f"q{rule.number}", _("Answer question %(number)d of Phiếu A.")
                               % {"number": rule.number})
        return cleaned

    def screening(self) -> dict[int, bool]:
        return {rule.number: self.cleaned_data.get(f"q{rule.number}") for rule in self.rules}

    def stopping_rule(self):
        """The first rule whose "yes" stops the screening, or None."""
        for rule in self.rules:
            if rule.stops and self.cleaned_data.get(f"q{rule.number}") is True:
                return rule
        return None

    def facts(self) -> dict:
        data = self.cleaned_data
        return {
            "deprivations": {indicator.code: bool(data.get(indicator.code)) for indicator in self.indicators},
            "income": data.get("income"), "score_a": data.get("score_a"), "is_farm": bool(data.get("is_farm")),
        }


class MeetingForm(HelperMixin, forms.Form):
    held_on = date_field(_("Held on"))
    attendance = forms.IntegerField(label=_("Attendance"), min_value=1, max_value=MAX_ATTENDANCE,
                                    widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    chaired_by = forms.CharField(label=_("Chaired by"), max_length=120,
                                 help_text=_("Usually the village head."))
    secretary = forms.CharField(label=_("Secretary"), max_length=120, required=False)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, surveys, meeting=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.surveys = list(surveys)
        for survey in self.surveys:
            self.fields[f"votes_{survey.pk}"] = forms.IntegerField(
                label=f"{survey.household.code} – {survey.household.head_name}", min_value=0,
                max_value=MAX_ATTENDANCE, initial=survey.votes_agree,
                widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            )
        if meeting is not None and not self.is_bound:
            self.initial.update({"held_on": meeting.held_on, "attendance": meeting.attendance,
                                 "chaired_by": meeting.chaired_by, "secretary": meeting.secretary,
                                 "note": meeting.note})

    def vote_rows(self):
        return [(survey, self[f"votes_{survey.pk}"]) for survey in self.surveys]

    def clean(self):
        cleaned = super().clean()
        attendance = cleaned.get("attendance")
        if attendance:
            for survey in self.surveys:
                agree = cleaned.get(f"votes_{survey.pk}")
                if agree is not None and agree > attendance:
                    self.add_error(f"votes_{survey.pk}", _("More people agree than attended (%(n)d).")
                                   % {"n": attendance})
        return cleaned

    def votes(self) -> dict[int, int]:
        return {survey.pk: self.cleaned_data[f"votes_{survey.pk}"] for survey in self.surveys}


class PostingForm(HelperMixin, forms.Form):
    posting_start = date_field(_("Posting started on"))
    posting_days = forms.IntegerField(label=_("Posting period (working days)"), min_value=1, max_value=30,
                                      initial=3)


class ComplaintForm(OneTimeKeyMixin, HelperMixin, forms.Form):
    complainant = forms.CharField(label=_("Complainant"), max_length=120)
    received_on = date_field(_("Received on"))
    household = forms.ModelChoiceField(label=_("Household concerned"), queryset=None, required=False)
    content = forms.CharField(label=_("Content"), widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, households, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["household"].queryset = households


class ResolveComplaintForm(HelperMixin, forms.Form):
    recheck_on = date_field(_("Re-checked on"))
    recheck_findings = forms.CharField(label=_("Re-check findings"), widget=forms.Textarea(attrs={"rows": 3}))
    outcome = forms.ChoiceField(label=_("Outcome"), choices=Complaint.Outcome.choices, widget=forms.RadioSelect)


class ApproveForm(HelperMixin, forms.Form):
    comment = forms.CharField(label=_("Comment (optional)"), required=False,
                              widget=forms.Textarea(attrs={"rows": 2}))


class ReturnForm(HelperMixin, forms.Form):
    comment = forms.CharField(label=_("Why the list is returned"), widget=forms.Textarea(attrs={"rows": 3}),
                              max_length=MAX_COMMENT)

    def __init__(self, *args, surveys, **kwargs):
        super().__init__(*args, **kwargs)
        self.surveys = list(surveys)
        for survey in self.surveys:
            self.fields[f"note_{survey.pk}"] = forms.CharField(
                label=f"{survey.household.code} – {survey.household.head_name}", required=False,
                initial=survey.reviewer_comment, widget=forms.TextInput(), max_length=MAX_HOUSEHOLD_NOTE,
            )

    def note_rows(self):
        return [(survey, self[f"note_{survey.pk}"]) for survey in self.surveys]

    def household_comments(self) -> dict[int, str]:
        return {survey.pk: self.cleaned_data.get(f"note_{survey.pk}", "") for survey in self.surveys}


class DecisionForm(HelperMixin, forms.Form):
    decision_number = forms.CharField(label=_("Decision number"), max_length=50,
                                      widget=forms.TextInput(attrs={"placeholder": "123/QĐ-UBND"}))
    decision_date = date_field(_("Decision date"))
    decision_signer = forms.CharField(label=_("Signed by"), max_length=120,
                                      help_text=_("Usually the chairman of the commune People's Committee."))


class RequestForm(OneTimeKeyMixin, HelperMixin, forms.Form):
    commune_code = forms.CharField(label=_("Commune code"), max_length=5)
    household_code = forms.CharField(label=_("Household code"), max_length=20)
    kind = forms.ChoiceField(label=_("Form"), choices=Request.Kind.choices, widget=forms.RadioSelect)
    received_on = date_field(_("Received on"))
    channel = forms.ChoiceField(label=_("Received through"), choices=Request.Channel.choices)
    reason = forms.CharField(label=_("Reason given"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["received_on"].initial = timezone.localdate()
        if user.role == user.Role.COMMUNE_OFFICER:
            del self.fields["commune_code"]

    def clean_commune_code(self):
        return commune_from_code(self.user, self.cleaned_data["commune_code"])

    def clean(self):
        cleaned = super().clean()
        code = cleaned.get("household_code")
        commune = cleaned.get("commune_code") if "commune_code" in self.fields else communes_for(self.user).first()
        if code and commune is not None:
            household = selectors.household_by_code(self.user, commune, code)
            if household is None:
                self.add_error("household_code", _("No household with code %(code)s in %(commune)s.")
                               % {"code": code, "commune": commune.name})
            cleaned["household"] = household
        return cleaned


class RefuseForm(HelperMixin, forms.Form):
    answer = forms.CharField(label=_("Reasons for the refusal"), widget=forms.Textarea(attrs={"rows": 3}))
    answered_on = date_field(_("Answered on"), required=False)
