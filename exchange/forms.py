from django import forms
from django.utils.translation import gettext_lazy as _

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
                                                           ("surveys", _("Surveys (Phiếu B)"))])
    format = forms.ChoiceField(label=_("Format"), choices=[("xlsx", "Excel (.xlsx)"), ("csv", "CSV (UTF-8)")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()
