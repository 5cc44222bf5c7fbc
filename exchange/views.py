from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import access_log
from households.forms import attach_errors

from . import services
from .forms import ExportForm, UploadForm
from .models import ImportBatch
from .reader import ReadError


def _batch_or_404(request: HttpRequest, pk: int) -> ImportBatch:
    try:
        return ImportBatch.objects.for_user(request.user).select_related("created_by").get(pk=pk)
    except ImportBatch.DoesNotExist:
        raise Http404(_("No such import.")) from None


def _require_importer(request: HttpRequest) -> None:
    if not services.can_import(request.user):
        raise PermissionDenied(_("Your role may not import files."))


@login_required
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    _require_importer(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        uploads = form.cleaned_data["file"]
        try:
            batch = services.create_bundle(user=request.user, files=[(f.name, f) for f in uploads])
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            services.queue_check(batch)
            return redirect(batch)
    batches = Paginator(ImportBatch.objects.for_user(request.user), 20).get_page(request.GET.get("page"))
    return render(request, "exchange/import_list.html", {"form": form, "page": batches})


@login_required
@require_GET
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = services.refreshed(_batch_or_404(request, pk))
    issues = Paginator(batch.issues.all(), 100).get_page(request.GET.get("page"))
    mine = batch.created_by_id == request.user.pk
    return render(request, "exchange/batch_detail.html", {
        "batch": batch, "issues": issues, "progress": services.progress(batch),
        "can_confirm": services.can_confirm(request.user, batch),
        "can_recheck": mine and batch.status == ImportBatch.Status.FAILED,
        "can_cancel": mine and batch.status == ImportBatch.Status.FAILED,
    })


@login_required
@require_GET
def batch_progress(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(services.progress(services.refreshed(_batch_or_404(request, pk))))


@login_required
@require_POST
def batch_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    try:
        services.confirm_batch(user=request.user, batch=batch,
                               valid_rows_only=request.POST.get("valid_rows_only") == "1")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(batch)


@login_required
@require_POST
def batch_recheck(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    try:
        services.recheck_batch(user=request.user, batch=batch)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(batch)


@login_required
@require_POST
def batch_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    try:
        services.cancel_batch(user=request.user, batch=batch)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Import cancelled; nothing was written."))
    return redirect(batch)


@login_required
@require_GET
def batch_rejected_rows(request: HttpRequest, pk: int) -> FileResponse:
    """The rejected rows as a workbook, each with a column saying what is wrong."""
    from .rejected import rejected_rows_workbook

    batch = _batch_or_404(request, pk)
    if not batch.rejected:
        raise Http404(_("This import has no rejected rows."))
    try:
        handle = rejected_rows_workbook(batch)
    except ReadError as exc:
        messages.error(request, str(exc))
        return redirect(batch)
    name = batch.file_name.rsplit(".", 1)[0] + " - dong loi.xlsx"
    access_log.record(request, access_log.Kind.REJECTED_ROWS, count=batch.rejected, detail=batch.file_name)
    return FileResponse(handle, as_attachment=True, filename=name)


EXPORT_KINDS = {
    "households": access_log.Kind.EXPORT_HOUSEHOLDS,
    "members": access_log.Kind.EXPORT_MEMBERS,
    "surveys": access_log.Kind.EXPORT_SURVEYS,
    "lists": access_log.Kind.EXPORT_LISTS,
}


def _log_export(request: HttpRequest, kind: str, *, unit=None, detail: str = ""):
    """The access log's entry for an export, written once its rows are counted."""
    # Members are the one sheet with personal IDs; they are whole only for those who see them whole.
    whole_ids = kind == "members" and request.user.sees_full_personal_ids

    def done(count: int) -> None:
        access_log.record(request, EXPORT_KINDS[kind], unit=unit, count=count, whole_ids=whole_ids,
                          detail=detail)

    return done


@login_required
@require_GET
def batch_file(request: HttpRequest, pk: int) -> HttpResponse:
    """The file as it was uploaded (several files: the zip that holds them), for its uploader in their area."""
    batch = _batch_or_404(request, pk)
    if not batch.file_kept:
        messages.error(request, services.removed_message())
        return redirect(batch)
    try:
        handle = batch.file.open("rb")
    except FileNotFoundError:
        messages.error(request, services.removed_message())
        return redirect(batch)
    name = f"{batch.file_name.rsplit('.', 1)[0]}.zip" if batch.is_bundle else batch.file_name
    access_log.record(request, access_log.Kind.IMPORT_FILE, count=batch.total_rows, detail=batch.file_name)
    return FileResponse(handle, as_attachment=True, filename=name)


@login_required
@require_http_methods(["GET"])
def export_page(request: HttpRequest) -> HttpResponse:
    """Download households, members, surveys or the official lists of the user's area in the exchange format."""
    from .exporter import ListScope, export_response, lists_response

    form = ExportForm(request.GET or None, user=request.user,
                      initial={"year": _last_decided_year(request.user)})
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["kind"] == "lists":
            detail = " ".join(str(v) for v in (data["year"], data["commune"], data["format"]) if v)
            return lists_response(request.user, ListScope(year=data["year"], commune_code=data["commune"]),
                                  data["format"], on_done=_log_export(request, "lists", detail=detail))
        return export_response(request.user, data["kind"], data["format"],
                               on_done=_log_export(request, data["kind"], detail=data["format"]))
    return render(request, "exchange/export.html", {"form": form})


def _last_decided_year(user) -> int | None:
    from django.db.models import Max

    from reviews.models import ReviewRound

    return (ReviewRound.objects.for_user(user).filter(status=ReviewRound.Status.DECIDED)
            .aggregate(year=Max("year"))["year"])


@login_required
@require_GET
def round_lists(request: HttpRequest, pk: int) -> FileResponse:
    """The four lists of a decided round's decision (Mẫu 02): XLSX, or with ?format=csv a zip of CSV files."""
    from reviews.models import ReviewRound

    from .exporter import FORMATS, ListScope, lists_response

    try:
        round_ = ReviewRound.objects.for_user(request.user).select_related("commune").get(pk=pk)
    except ReviewRound.DoesNotExist:
        raise Http404(_("No such record in your area.")) from None
    if round_.status != ReviewRound.Status.DECIDED:
        raise Http404(_("This round has no decision yet."))
    fmt = request.GET.get("format", "xlsx")
    if fmt not in FORMATS:
        raise Http404(_("Unknown format."))
    return lists_response(request.user, ListScope(year=round_.year, round_id=round_.pk), fmt,
                          commune_code=round_.commune.code,
                          on_done=_log_export(request, "lists", unit=round_.commune, detail=f"{round_.year} {fmt}"))
