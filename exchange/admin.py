"""The exchange format in the admin: export with django-import-export, import
through our own batches, and the batches themselves, read-only.

Export: `ExchangeAdminMixin` adds import-export's Export button and page; the
file is the sheet of the model's resource (`resources.py`) over the
changelist's filters and search, always inside `Model.objects.for_user(user)`.

Import: the same mixin adds an Import button leading to

    <model>/import/               upload a workbook, or a CSV file per sheet
    <model>/import/<batch_id>/    the preview: counts, every problem, each row's
                                  planned action; Confirm / Import the valid rows
                                  only / Cancel; then the result

which drive `exchange.services` (create_bundle → check → confirm_batch →
import), never import-export's row-by-row save: the registry services do the
writing, with their audit events (source "import"), NFC names, one head per
household and the scoping path. A row outside the user's area is rejected by
the check. Only the roles that may import (`services.can_import`) reach these
pages; the others get 403.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.admin import ExportMixin, ImportMixin
from import_export.forms import ExportForm

from core import access_log
from core.admin_scoping import ReadOnlyAdmin
from households.forms import attach_errors

from . import importer, services
from .forms import UploadForm
from .models import ImportBatch
from .reader import ReadError
from .resources import FORMATS, REJECTED, export_file_name, planned_actions
from .tmp_storage import is_token

# Files up to this many rows show each row's planned action on the preview; it
# takes a second reading of the file, cheap for a commune's list. Larger files
# show the counts and the problems only.
PREVIEW_ROWS = 2000
ISSUES_PER_PAGE = 100

ACTION_LABELS = {
    "create": gettext_lazy("To create"),
    "update": gettext_lazy("To update"),
    "unchanged": gettext_lazy("Unchanged"),
    REJECTED: gettext_lazy("Rejected"),
}


@dataclass(frozen=True)
class PlannedRow:
    sheet: str
    number: int
    commune: str
    code: str
    name: str
    action: str

    @property
    def action_label(self) -> str:
        return ACTION_LABELS[self.action]


def planned_rows(batch: ImportBatch, limit: int = PREVIEW_ROWS) -> list[PlannedRow] | None:
    """Each row of a checked file and what importing it would do, or None when
    the file is too large to show row by row (or no longer readable).

    The check stores the problems and counts but not each row's action, so the
    file is planned again, read-only, as its uploader.
    """
    if batch.status != ImportBatch.Status.VALIDATED or not 0 < batch.total_rows <= limit:
        return None
    try:
        with services.batch_tables(batch) as all_tables:
            tables = [t for t in all_tables if t.kind in ("households", "members")]
            plan = importer.plan_import(tables, batch.created_by)
            actions = planned_actions(plan)
            rows = []
            for table in tables:
                title = table.sheet.title
                name_key = "chu_ho" if table.kind == "households" else "ho_ten"
                for row in table.rows():
                    rows.append(PlannedRow(
                        sheet=title, number=row.number, commune=_shown(row.values.get("ma_xa")),
                        code=_shown(row.values.get("ma_ho")), name=_shown(row.values.get(name_key)),
                        action=actions.get((title, row.number), REJECTED),
                    ))
    except (ReadError, OSError, zipfile.BadZipFile):
        return None
    return rows


def _shown(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


class ExchangeAdminMixin(ExportMixin):
    """Export (import-export) and import (our batches) on a ScopedAdmin's changelist.

    Set `resource_classes = [<ExchangeResource>]`; the resource is built with
    the request's user, which scopes its rows and decides whether personal IDs
    are written whole.
    """

    export_formats = FORMATS
    # The whole sheet, never a choice of columns: a file missing a required
    # column could not be imported back.
    export_form_class = ExportForm
    import_export_change_list_template = "admin/import_export/change_list_import_export.html"
    import_template_name = "admin/exchange/import.html"
    import_preview_template_name = "admin/exchange/import_preview.html"

    # -- export --------------------------------------------------------------------------

    def has_export_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def get_export_resource_kwargs(self, request, **kwargs):
        return {"user": request.user}

    def get_export_queryset(self, request):
        # The changelist's filters and search over get_queryset(), itself the
        # scoping path; named again here so that an export can never widen it.
        return super().get_export_queryset(request).for_user(request.user)

    def export_action(self, request):
        # The export reads the changelist's filters from the address; one the changelist does
        # not know (a hand-edited or stale link) is refused with a message, as the changelist does.
        try:
            return super().export_action(request)
        except IncorrectLookupParameters:
            messages.error(request, _("The export's address holds a filter this list does not have; "
                                      "choose the filters on the list, then export again."))
            return HttpResponseRedirect(reverse(f"admin:{self._url_name('changelist')}"))
    def get_data_for_export(self, request, queryset, **kwargs):
        data = super().get_data_for_export(request, queryset, **kwargs)
        # Members carry personal IDs, whole for the people who see them whole (the resource decides).
        whole_ids = self.model._meta.model_name == "member" and request.user.sees_full_personal_ids
        access_log.record(request, access_log.Kind.ADMIN_EXPORT, count=len(data), whole_ids=whole_ids,
                          detail=self.model._meta.label_lower)
        return data

    def get_export_filename(self, request, queryset, file_format):
        resource = self.get_export_resource_classes(request)[0]
        return export_file_name(resource.sheet, file_format.get_extension())

    # -- import ----------------------------------------------------------------------------

    def has_import_permission(self, request) -> bool:
        return services.can_import(request.user)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "has_import_permission": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def _url_name(self, step: str) -> str:
        app_label, model_name = self.get_model_info()
        return f"{app_label}_{model_name}_{step}"

    def _route(self, step: str) -> str:
        return f"{self.admin_site.name}:{self._url_name(step)}"

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name=self._url_name("import")),
            path("import/<int:batch_id>/", self.admin_site.admin_view(self.import_preview_view),
                 name=self._url_name("import_preview")),
            *super().get_urls(),
        ]

    def _require_importer(self, request) -> None:
        if not self.has_import_permission(request):
            raise PermissionDenied(_("Your role may not import files."))

    def _preview_url(self, batch: ImportBatch) -> str:
        return reverse(self._route("import_preview"), args=[batch.pk])

    def _context(self, request, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "has_view_permission": self.has_view_permission(request),
            **extra,
        }

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload: the file becomes a batch and is checked; nothing is written."""
        self._require_importer(request)
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            uploads = form.cleaned_data["file"]
            try:
                batch = services.create_bundle(user=request.user, files=[(f.name, f) for f in uploads])
            except ValidationError as exc:
                attach_errors(form, exc)
            else:
                # As the application's import page: the check runs as a task once the
                # batch is committed (at once when no worker is configured).
                services.queue_check(batch)
                return HttpResponseRedirect(self._preview_url(batch))
        recent = ImportBatch.objects.for_user(request.user).filter(created_by=request.user)[:10]
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.import_template_name, self._context(
            request, title=_("Import a file"), form=form, recent=recent,
            preview_route=self._route("import_preview"),
        ))

    def import_preview_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        """The check's report; on POST the uploader's decision (confirm or cancel)."""
        self._require_importer(request)
        try:
            batch = ImportBatch.objects.for_user(request.user).select_related("created_by").get(pk=batch_id)
        except ImportBatch.DoesNotExist:
            raise Http404(_("No such import.")) from None
        if request.method == "POST":
            return self._decide(request, batch)
        batch = services.refreshed(batch)
        progress = services.progress(batch)
        can_confirm = services.can_confirm(request.user, batch)
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.import_preview_template_name, self._context(
            request, title=batch.file_name, batch=batch, progress=progress, can_confirm=can_confirm,
            issues=Paginator(batch.issues.all(), ISSUES_PER_PAGE).get_page(request.GET.get("page")),
            rows=planned_rows(batch), preview_rows=PREVIEW_ROWS,
            import_url=reverse(self._route("import")),
        ))

    def _decide(self, request: HttpRequest, batch: ImportBatch) -> HttpResponse:
        try:
            if "_cancel" in request.POST:
                services.cancel_batch(user=request.user, batch=batch)
                messages.success(request, _("Import cancelled; nothing was written."))
            elif "_recheck" in request.POST:
                batch = services.recheck_batch(user=request.user, batch=batch)
                messages.success(request, _("The file is being checked again."))
            elif "_confirm" in request.POST or "_confirm_valid" in request.POST:
                batch = services.confirm_batch(user=request.user, batch=batch,
                                               valid_rows_only="_confirm_valid" in request.POST)
                messages.success(request, _("The import is under way; this page shows its result."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(self._preview_url(batch))


SESSION_TMP_FILES = "import_export_tmp_files"


class ExchangeImportMixin(ImportMixin):
    """django-import-export's import (preview, then confirmation), with its temporary file kept safe.

    The confirmation form sends back the name of the temporary file the preview
    wrote. Only a name this storage made (`exchange.tmp_storage`) and handed to
    this session is accepted; any other (a path, another user's file) is refused
    with a message and nothing is read or deleted.
    """

    tmp_storage_class = "exchange.tmp_storage.PrivateTempStorage"

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        name = initial.get("import_file_name")
        if is_token(name):
            handed = request.session.get(SESSION_TMP_FILES, [])
            request.session[SESSION_TMP_FILES] = [*handed[-19:], name]
        return initial

    def process_import(self, request, **kwargs):
        name = request.POST.get("import_file_name", "")
        handed = request.session.get(SESSION_TMP_FILES, [])
        if request.method == "POST" and self.has_import_permission(request) and (
                not is_token(name) or name not in handed):
            self.message_user(request, _("This import cannot be confirmed: its file was not uploaded in this "
                                         "session or is no longer kept. Upload the file again."), messages.ERROR)
            app_label, model_name = self.get_model_info()
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:{app_label}_{model_name}_import"))
        response = super().process_import(request, **kwargs)
        if name in handed:
            request.session[SESSION_TMP_FILES] = [n for n in handed if n != name]
        return response


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyAdmin):
    """Every import a user made (a superuser: everyone's); nothing is changed here."""

    list_display = ("file_name", "created_by", "created_at", "status", "total_rows", "created", "updated",
                    "unchanged", "rejected")
    list_filter = ("status", "valid_rows_only")
    search_fields = ("file_name", "sha256")
    list_select_related = ("created_by",)
    date_hierarchy = "created_at"
    # The stored file is left out: its media URL would be a way around the scoping.
    fields = ("file_name", "size", "sha256", "created_by", "created_at", "status", "valid_rows_only",
              "total_rows", "created", "updated", "unchanged", "rejected", "error", "started_at", "finished_at",
              "checked_at", "file_removed_at", "sheets", "problems")
    readonly_fields = fields

    def scope(self, request, queryset):
        return ImportBatch.objects.for_user(request.user)

    def has_add_permission(self, request):
        return False

    @admin.display(description=gettext_lazy("problems"))
    def problems(self, batch: ImportBatch):
        shown = list(batch.issues.all()[:50])
        if not shown:
            return "–"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            ((i.sheet, i.row, i.column, i.value, i.message) for i in shown),
        )
        link = format_html('<a href="{}">{}</a>', batch.get_absolute_url(), _("All problems of this import"))
        return format_html("<table>{}</table><p>{}</p>", rows, link)
