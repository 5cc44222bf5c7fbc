from django import forms
from django.utils.translation import gettext_lazy as _

from core.scoping import communes_for
from households.forms import NoTagHelper


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """One or several files: a workbook, or a CSV file per sheet."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)]


class UploadForm(forms.Form):
    file = MultipleFileField(
        label=_("File"),
        help_text=_("An Excel workbook (.xlsx) with the sheets “Hộ gia đình” and “Thành viên”, or one CSV file "
                    "per sheet (choose them together)."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()


class ExportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What"), choices=[("households", _("Households")), ("members", _("Members")),
                                                           ("surveys", _("Surveys (Phiếu B)")),
                                                           ("lists", _("Official lists of a year"))])
    format = forms.ChoiceField(label=_("Format"), choices=[("xlsx", "Excel (.xlsx)"), ("csv", "CSV (UTF-8)")],
                               help_text=_("The official lists in CSV come as a zip file of four CSV files."))
    year = forms.IntegerField(
        label=_("Year"), required=False, min_value=2000, max_value=2100,
        help_text=_("For the official lists: the year of the decisions."),
    )
    commune = forms.CharField(
        label=_("Commune code"), required=False, max_length=5,
        help_text=_("For the official lists: one commune only (its 5-digit code); empty for your whole area."),
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.helper = NoTagHelper()

    def clean_commune(self) -> str:
        code = (self.cleaned_data.get("commune") or "").strip()
        if not code:
            return ""
        if not code.isdigit():
            raise forms.ValidationError(_("A commune code is made of digits."))
        code = code.zfill(5)  # "2794": Excel dropped the leading zero
        if not communes_for(self.user).filter(code=code).exists():
            raise forms.ValidationError(_("There is no commune with the code %(code)s in your area."),
                                        params={"code": code}, code="commune")
        return code

    def clean(self):
        data = super().clean()
        if data.get("kind") == "lists" and data.get("year") is None and "year" not in self.errors:
            self.add_error("year", _("Enter the year of the official lists."))
        return data
