"""Forms of the report pages. They parse input; `reports.services` decides."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from households.forms import NoTagHelper

from .models import Target
from .services import target_units


class UnitChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.code})"


class TargetForm(forms.Form):
    unit = UnitChoiceField(label=_("Unit"), queryset=None)
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    kind = forms.ChoiceField(label=_("Kind of target"), choices=Target.Kind.choices)
    value = forms.DecimalField(label=_("Value"), max_digits=9, decimal_places=2, localize=True,
                               help_text=_("A rate or points in percent (12,5), or a number of households."))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = target_units(user).order_by("-level", "code")
        self.helper = NoTagHelper()
