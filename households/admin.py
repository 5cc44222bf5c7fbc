from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core import access_log
from core.admin_scoping import ReadOnlyAdmin, ScopedAdmin
from core.models import AuditEvent
from core.permissions import Action, can
from core.scoping import communes_for
from core.text import fold
from exchange.admin import ExchangeAdminMixin
from exchange.resources import HouseholdResource, MemberResource

from . import services
from .forms import MAX_MEMBERS, MISSING_VERSION, BaseMemberFormSet
from .models import CommuneSummary, Ethnicity, Household, Member, Village
from .validators import clean_personal_id


def _with_masked_id(request, names):
    """The field names of a member as `request.user` may see them: the whole personal ID
    for the people who keep the register, the masked one for everyone else."""
    if request.user.sees_full_personal_ids:
        return list(names)
    return ["personal_id_masked" if name == "personal_id" else name for name in names]


@admin.display(description=_("personal ID"))
def personal_id_masked(member: Member) -> str:
    return member.masked_personal_id or "–"


def _exact_personal_id(term: str) -> str:
    """The search term as a whole personal ID (12 digits, or an old 9-digit one), else ""."""
    try:
        checked = clean_personal_id(term.strip())
    except ValidationError:
        return ""
    return checked.value


class ReasonActionForm(ActionForm):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class MemberInlineFormSet(forms.BaseInlineFormSet):
    """The same member rules as the application's form: one head, valid IDs, at most MAX_MEMBERS rows."""

    default_error_messages = BaseMemberFormSet.default_error_messages

    actor = None  # the user saving, set by MemberInline.get_formset

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        heads = 0
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data:
                continue
            values = {name: data.get(name) for name in services.MEMBER_FIELDS}
            values["personal_id"] = values["personal_id"] or ""
            try:
                form.cleaned_data.update(services.clean_member_values(values))
            except ValidationError as exc:
                for name, errors in exc.error_dict.items():
                    for error in errors:
                        form.add_error(name if name in form.fields else None, error)
                continue
            heads += data.get("relation") == Member.Relation.HEAD
        if not any(self.errors) and heads != 1:
            raise ValidationError(_("A household has exactly one head; this one has %(count)d.") % {"count": heads})
        if not any(self.errors):
            # Personal IDs held by another household: refused here with the service's message
            # (which names no household outside the user's area), not at save time.
            rows = [services.MemberInput(values=form.cleaned_data) for form in self.forms
                    if getattr(form, "cleaned_data", None)]
            try:
                services.check_members(rows, self.instance if self.instance.pk else None, self.actor)
            except ValidationError as exc:
                raise ValidationError(exc.messages) from exc


class MemberInline(admin.TabularInline):
    model = Member
    formset = MemberInlineFormSet
    fields = ("full_name", "sex", "birth_date", "birth_year", "personal_id", "ethnicity", "relation",
              "has_health_insurance")
    extra = 0
    can_delete = False
    max_num = MAX_MEMBERS

    personal_id_masked = staticmethod(personal_id_masked)

    def get_formset(self, request, obj=None, **kwargs):
        # As on the application's form: a post claiming more rows is refused before they are read.
        kwargs.setdefault("validate_max", True)
        kwargs.setdefault("absolute_max", MAX_MEMBERS)
        formset = super().get_formset(request, obj, **kwargs)
        return type(formset.__name__, (formset,), {"actor": request.user})

    def get_fields(self, request, obj=None):
        return _with_masked_id(request, self.fields)

    def get_readonly_fields(self, request, obj=None):
        if request.user.sees_full_personal_ids:
            return super().get_readonly_fields(request, obj)
        return ("personal_id_masked",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(is_archived=False).select_related("ethnicity")

    def has_add_permission(self, request, obj=None):
        return can(request.user, Action.EDIT_HOUSEHOLDS) and not (obj is not None and obj.is_archived)

    def has_change_permission(self, request, obj=None):
        # `obj` is the household: an archived one's members are read, not changed.
        return can(request.user, Action.EDIT_HOUSEHOLDS) and not (obj is not None and obj.is_archived)

    def has_view_permission(self, request, obj=None):
        return True

    def has_delete_permission(self, request, obj=None):
        return False


class HouseholdAdminForm(forms.ModelForm):
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Household
        # The classification is shown read-only: only a commune decision sets it.
        fields = ("commune", "village", "code", "area", "is_farm", "phone", "has_meritorious_member",
                  "is_social_protection")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "expected_version" in self.fields:
            self.fields["expected_version"].initial = self.instance.version
        if "code" in self.fields:
            self.fields["code"].required = False

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and "expected_version" in self.fields and cleaned.get("expected_version") is None:
            self.add_error(None, MISSING_VERSION)
        commune = cleaned.get("commune") or (self.instance.commune if self.instance.pk else None)
        if commune is not None:
            try:
                services.clean_household_values(cleaned, commune)
                if cleaned.get("code"):
                    # A duplicate code is a form error here, not a failure of the save.
                    services.check_code_free(commune, cleaned["code"], self.instance if self.instance.pk else None)
            except ValidationError as exc:
                for name, errors in exc.error_dict.items():
                    for error in errors:
                        self.add_error(name if name in self.fields else None, error)
        return cleaned


@admin.register(Household)
class HouseholdAdmin(ExchangeAdminMixin, ScopedAdmin):
    resource_classes = [HouseholdResource]
    form = HouseholdAdminForm
    edit_action = Action.EDIT_HOUSEHOLDS
    inlines = [MemberInline]
    action_form = ReasonActionForm
    actions = ["archive_selected"]
    list_display = ("code", "head_name", "village", "commune", "classification", "classification_year",
                    "member_count", "is_ethnic_minority", "is_archived")
    list_filter = ("classification", "is_ethnic_minority", "is_archived", "area", "is_farm",
                   "has_meritorious_member", "is_social_protection")
    search_fields = ("code", "search_text")
    list_select_related = ("commune", "village")
    readonly_fields = ("classification", "classification_year",
                       "head_name", "member_count", "is_ethnic_minority", "is_archived", "archived_reason",
                       "archived_at", "archived_by", "version", "created_at", "created_by", "updated_at",
                       "updated_by")
    autocomplete_fields = ("village",)
    raw_id_fields = ("commune",)
    list_per_page = 50

    def search(self, request, queryset, search_term):
        # Accent-insensitive, like the application's list.
        from core.text import search_terms

        for term in search_terms(search_term):
            queryset = queryset.filter(search_text__contains=term)
        return queryset, False

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("commune")  # a household does not move commune by an edit
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "commune":
            kwargs["queryset"] = communes_for(request.user)
        if db_field.name == "village":
            kwargs["queryset"] = Village.objects.for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        # Saved in save_related, together with the members, through the service.
        pass

    def save_related(self, request, form, formsets, change):
        inline = formsets[0] if formsets else None
        household = Household.objects.get(pk=form.instance.pk) if change else None
        # The forms' instances already carry the new values; compare with the stored rows.
        stored = {m.pk: m for m in household.members.filter(is_archived=False)} if household else {}
        rows = []
        if inline is not None:
            for member_form in inline.forms:
                data = getattr(member_form, "cleaned_data", None)
                if not data or (member_form.instance.pk is None and not member_form.has_changed()):
                    continue
                values = {name: data.get(name) for name in services.MEMBER_FIELDS}
                values["personal_id"] = values["personal_id"] or ""
                rows.append(services.MemberInput(values=values, member=stored.get(member_form.instance.pk)))
        commune = household.commune if household else form.cleaned_data["commune"]
        if household is not None:
            # Members not shown (archived) stay as they are; shown but unchanged ones are kept.
            shown = {row.member.pk for row in rows if row.member}
            for member in household.members.filter(is_archived=False).exclude(pk__in=shown):
                rows.append(services.MemberInput(values={n: getattr(member, n) for n in services.MEMBER_FIELDS},
                                                 member=member))
        saved = services.save_household(
            actor=request.user, source=AuditEvent.Source.ADMIN, commune=commune,
            values=form.cleaned_data, members=rows, household=household,
            expected_version=form.cleaned_data.get("expected_version") if change else None,
        )
        form.instance.pk = saved.pk
        form.instance.code = saved.code
        form.instance.head_name = saved.head_name
        for formset in formsets:
            # The admin's change message reads what formset.save() would have set.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def has_change_permission(self, request, obj=None):
        # An archived household is read only, here as in the service: restore it first.
        if obj is not None and obj.is_archived:
            return False
        return super().has_change_permission(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None and obj.is_archived and self._can_edit(request) and request.method == "GET":
            messages.warning(request, _("An archived household cannot be edited; restore it first."))
        return super().change_view(request, object_id, form_url, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            response = super().changeform_view(request, object_id, form_url, extra_context)
        except services.StaleEdit as exc:
            messages.error(request, str(exc))
            from django.shortcuts import redirect

            return redirect(request.path)
        except ValidationError as exc:
            # The forms check codes and personal IDs before the save; this is the race where another
            # save took one in between. Nothing was written (the admin's transaction rolled back).
            for problem in exc.messages:
                messages.error(request, problem)
            from django.shortcuts import redirect

            return redirect(request.path)
        household = getattr(response, "context_data", {}).get("original")
        if request.method == "GET" and household is not None and household.pk and (
                request.user.sees_full_personal_ids):
            shown = household.members.filter(is_archived=False).exclude(personal_id="").count()
            if shown:
                access_log.record(request, access_log.Kind.ADMIN_HOUSEHOLD, household=household, count=shown,
                                  whole_ids=True)
        return response

    @admin.action(description=_("Archive the selected households (give the reason)"))
    def archive_selected(self, request, queryset):
        reason = request.POST.get("reason", "")
        try:
            count = services.bulk_archive_households(
                actor=request.user, households=list(queryset), reason=reason, source=AuditEvent.Source.BULK
            )
        except ValidationError:
            self.message_user(request, _("Write the reason for archiving in the Reason box."), messages.ERROR)
            return
        message = ngettext("%(count)d household archived.", "%(count)d households archived.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._can_edit(request):
            actions.pop("archive_selected", None)
        return actions


@admin.register(Member)
class MemberAdmin(ExchangeAdminMixin, ScopedAdmin):
    """Members are changed on their household's page; here they are looked up."""

    resource_classes = [MemberResource]
    # The list shows every personal ID masked, whoever looks: a whole one is read on a
    # member's own page, by the people who may, and that read is logged.
    list_display = ("full_name", "household", "sex", "birth_year", "personal_id_masked", "ethnicity",
                    "relation", "has_health_insurance", "is_archived")
    list_filter = ("sex", "relation", "has_health_insurance", "is_archived", "ethnicity")
    search_fields = ("search_name", "household__code")
    search_help_text = _("A name (with or without diacritics), or a whole personal ID.")
    list_select_related = ("household", "ethnicity")
    readonly_fields = [f.name for f in Member._meta.fields if f.name != "id"]

    personal_id_masked = staticmethod(personal_id_masked)

    def get_readonly_fields(self, request, obj=None):
        return _with_masked_id(request, self.readonly_fields)

    def get_fields(self, request, obj=None):
        # Every field is read-only; listing them here keeps the whole ID off the form.
        return self.get_readonly_fields(request, obj)

    def search(self, request, queryset, search_term):
        # A whole personal ID finds its holder inside the user's area (the queryset is
        # already scoped): how a reviewer or a province administrator finds where an ID
        # refused as "registered in another household" is. Only an exact ID: a part
        # of one would let anyone read the masked digits back by trying.
        personal_id = _exact_personal_id(search_term)
        if personal_id:
            return queryset.filter(personal_id=personal_id), False
        from core.text import search_terms

        for term in search_terms(search_term):
            queryset = queryset.filter(search_name__contains=term)
        return queryset, False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None and _exact_personal_id(changelist.query):
            access_log.record(request, access_log.Kind.ID_SEARCH, count=changelist.result_count,
                              whole_ids=False)
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        member = getattr(response, "context_data", {}).get("original")
        if member is not None and member.personal_id and request.user.sees_full_personal_ids:
            access_log.record(request, access_log.Kind.ADMIN_MEMBERS, household=member.household, count=1,
                              whole_ids=True, detail=member.full_name)
        return response

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class VillageAdminForm(forms.ModelForm):
    class Meta:
        model = Village
        fields = ("commune", "name")

    def clean(self):
        cleaned = super().clean()
        commune, name = cleaned.get("commune"), cleaned.get("name")
        if commune is not None and name and not self.instance.pk:
            try:
                cleaned["name"] = services.check_village_name(commune, name)
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


@admin.register(Village)
class VillageAdmin(ScopedAdmin):
    form = VillageAdminForm
    edit_action = Action.EDIT_HOUSEHOLDS
    list_display = ("name", "commune", "is_archived")
    list_filter = ("is_archived",)
    search_fields = ("name", "search_name")
    list_select_related = ("commune",)
    fields = ("commune", "name")

    def get_readonly_fields(self, request, obj=None):
        return ("commune", "name") if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        # A village is renamed by a superuser only; officers add new ones.
        if obj is not None and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "commune":
            kwargs["queryset"] = communes_for(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            village = services.create_village(actor=request.user, commune=obj.commune, name=obj.name,
                                              source=AuditEvent.Source.ADMIN)
        except ValidationError as exc:
            # Another tab added the same village between the form's check and this save:
            # the one it made stands, and this one is told so instead of a server error.
            village = Village.objects.get(commune=obj.commune, search_name=fold(obj.name))
            request.village_taken = " ".join(exc.messages)
        obj.pk = village.pk
        obj.search_name = village.search_name

    def log_addition(self, request, obj, message):
        if not getattr(request, "village_taken", None):
            super().log_addition(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        taken = getattr(request, "village_taken", None)
        if taken:
            self.message_user(request, taken, messages.WARNING)
            return HttpResponseRedirect(reverse("admin:households_village_changelist"))
        return super().response_add(request, obj, post_url_continue)


@admin.register(Ethnicity)
class EthnicityAdmin(ReadOnlyAdmin):
    superuser_may_edit = True
    list_display = ("code", "name", "code_1979", "is_minority")
    search_fields = ("name", "aliases")

    def scope(self, request, queryset):
        return queryset

    def has_add_permission(self, request):
        return False


@admin.register(CommuneSummary)
class CommuneSummaryAdmin(ReadOnlyAdmin):
    list_display = ("commune", "households", "members", "poor", "near_poor", "middle", "ethnic_minority",
                    "computed_at")
    list_select_related = ("commune",)
    search_fields = ("commune__name", "commune__code")

    def scope(self, request, queryset):
        return queryset.filter(commune__in=communes_for(request.user))
