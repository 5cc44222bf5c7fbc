from django import forms
from django.utils.translation import gettext_lazy as _

from households.forms import NoTagHelper


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_("Excel (.xlsx) or CSV in the exchange format: sheets “Hộ gia đình” and “Thành viên”."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()


class ExportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What"), choices=[("households", _("Households")), ("members", _("Members"))])
    format = forms.ChoiceField(label=_("Format"), choices=[("xlsx", "Excel (.xlsx)"), ("csv", "CSV (UTF-8)")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()
