"""The figures pages: a unit's dashboard, its official report tables (page and Excel), targets.

Every page reads stored rollups through `reports.selectors` (scoped to the user's
area): outside it a unit answers 404. Nothing here counts households; the
support table alone reads the support records (`programs.selectors.support_report`).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import access_log
from core.scoping import units_for
from geo.models import AdminUnit
from households.forms import attach_errors

from . import charts, excel, pack, selectors, services, tables
from .forms import TargetForm
from .models import ReportPack, Rollup
from .tasks import prepare_report_pack

OFFICIAL, PRELIMINARY = Rollup.Stage.OFFICIAL, Rollup.Stage.PRELIMINARY
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _unit_or_404(user, pk: int) -> AdminUnit:
    """Outside the user's area a unit does not exist for them (404, not 403)."""
    unit = units_for(user).filter(pk=pk).select_related("parent").first()
    if unit is None:
        raise Http404(_("No such unit in your area."))
    return unit


def _year_or_404(year: int) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Http404(_("No figures for that year."))
    return year


def _stage(request: HttpRequest) -> str:
    stage = request.GET.get("stage", OFFICIAL)
    return stage if stage in Rollup.Stage.values else OFFICIAL


def _home_unit(user) -> AdminUnit | None:
    """The unit a user's dashboard opens on: their own; a superuser without one, the largest province."""
    if user.unit_id:
        return user.unit
    top = (Rollup.objects.for_user(user).filter(unit__level=AdminUnit.Level.PROVINCE, stage=OFFICIAL)
           .order_by("-year", "-households").select_related("unit").first())
    return top.unit if top else None


@login_required
@require_GET
def dashboard_home(request: HttpRequest) -> HttpResponse:
    """The user's own unit at the latest year with figures."""
    unit = _home_unit(request.user)
    if unit is None:
        raise Http404(_("Your account is not bound to a unit."))
    latest = Rollup.objects.for_user(request.user).filter(unit=unit).aggregate(year=Max("year"))["year"]
    return redirect("reports:dashboard", unit=unit.pk, year=latest or timezone.localdate().year)


def _household_links(unit: AdminUnit) -> dict[str, str]:
    """At a commune, each headline number opens the household list filtered to it (today's register)."""
    if unit.level != AdminUnit.Level.COMMUNE:
        return {}
    base = reverse("households:list") + f"?commune={unit.pk}"
    return {"households": base, "poor": base + "&classification=poor",
            "near_poor": base + "&classification=near_poor", "middle": base + "&classification=middle",
            "minority": base + "&ethnic_minority=yes"}


@login_required
@require_GET
def dashboard(request: HttpRequest, unit: int, year: int) -> HttpResponse:
    user = request.user
    unit = _unit_or_404(user, unit)
    year = _year_or_404(year)
    stage = _stage(request)
    years = sorted(set(Rollup.objects.for_user(user).filter(unit=unit).values_list("year", flat=True)))
    rollup = selectors.rollup_for(user, unit, year, stage)
    series = selectors.rate_series(user, unit, years)
    by_year = {point.year: point for point in series}
    previous_point = by_year.get(year - 1)
    previous = None
    if previous_point is not None:
        previous = previous_point.official if stage == OFFICIAL else (previous_point.preliminary
                                                                       or previous_point.official)
    children = selectors.child_rollups(user, unit, year, stage)
    profile = selectors.deprivation_profile(user, unit, year, stage)

    def stage_rate(point, name):
        chosen = point.official if stage == OFFICIAL else (point.preliminary or point.official)
        return getattr(chosen, name) if chosen else None

    rate_chart = charts.line_chart(
        _("Poverty and near-poverty rates, %(unit)s") % {"unit": unit.name},
        [p.year for p in series],
        [charts.Series(_("Poverty rate"), [stage_rate(p, "poor_rate") for p in series], charts.POOR_COLOUR),
         charts.Series(_("Near-poverty rate"), [stage_rate(p, "near_poor_rate") for p in series],
                       charts.NEAR_POOR_COLOUR, marker="square", dashed=True)],
    ) if series else ""
    deprivation_chart = charts.bar_chart(
        _("Share of poor and near-poor households deprived on each indicator"),
        [charts.BarRow(row.name, [row.poor_share, row.near_poor_share]) for row in profile],
        [charts.Series(_("Poor households"), [], charts.POOR_COLOUR),
         charts.Series(_("Near-poor households"), [], charts.NEAR_POOR_COLOUR)],
    ) if profile else ""
    return render(request, "reports/dashboard.html", {
        "unit": unit, "year": year, "stage": stage, "years": years, "rollup": rollup, "previous": previous,
        "children": children, "children_are_communes": bool(children) and children[0].unit.level == "commune",
        "rate_chart": rate_chart, "deprivation_chart": deprivation_chart, "profile": profile,
        "movements": selectors.movements(user, unit, year, stage),
        "targets": selectors.targets_with_achievement(user, unit, year),
        "effect": selectors.next_standard_effect(user, unit),
        "links": _household_links(unit),
        "can_set_targets": services.can_set_targets(user),
        "stages": Rollup.Stage.choices,
    })


@login_required
@require_GET
def report_list(request: HttpRequest, unit: int, year: int) -> HttpResponse:
    unit = _unit_or_404(request.user, unit)
    return render(request, "reports/report_list.html", {
        "unit": unit, "year": _year_or_404(year), "stage": _stage(request), "forms": tables.FORMS.values(),
        "packs": pack.recent_packs(request.user),
    })


@login_required
@require_GET
def report(request: HttpRequest, unit: int, year: int, form: str) -> HttpResponse:
    if form not in tables.FORMS:
        raise Http404(_("No such report."))
    unit = _unit_or_404(request.user, unit)
    built = tables.build(form, request.user, unit, _year_or_404(year), _stage(request))
    today = timezone.localdate()
    if request.GET.get("format") == "xlsx":
        access_log.record(request, access_log.Kind.REPORT_TABLE, unit=unit, detail=f"{form} {built.year}")
        response = HttpResponse(
            excel.workbook_bytes(built, today=today),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response["Content-Disposition"] = f'attachment; filename="{excel.file_name(built)}"'
        return response
    return render(request, "reports/report.html", {
        "report": built, "unit": unit, "year": built.year, "today": today,
        "heading": excel.form_heading(built), "subtitle": excel.report_subtitle(built),
        "place_date": excel.place_and_date(unit, today), "unit_title": excel.unit_title(unit),
        "stage": _stage(request),
    })


@login_required
@require_http_methods(["GET", "POST"])
def target_new(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not services.can_set_targets(user):
        raise PermissionDenied(_("Only a province administrator or a reviewer sets targets."))
    initial = {"year": timezone.localdate().year}
    for name in ("unit", "year", "kind"):
        if request.GET.get(name, "").isdigit() or (name == "kind" and request.GET.get(name)):
            initial[name] = request.GET[name]
    form = TargetForm(request.POST or None, user=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            target, created = services.set_target(actor=user, unit=data["unit"], year=data["year"],
                                                  kind=data["kind"], value=data["value"])
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, _("Target set.") if created else _("Target updated."))
            return redirect("reports:dashboard", unit=target.unit_id, year=target.year)
    return render(request, "reports/target_form.html", {"form": form})


# --- the report pack: every table of a unit and the units below it, prepared by a task --------------------


def _pack_or_404(request: HttpRequest, pk: int) -> ReportPack:
    """The user's own pack of a unit in their area (a superuser: any); otherwise 404."""
    found = ReportPack.objects.for_user(request.user).select_related("unit", "created_by").filter(pk=pk).first()
    if found is None:
        raise Http404(_("No such report pack."))
    return found


@login_required
@require_POST
def pack_new(request: HttpRequest, unit: int, year: int) -> HttpResponse:
    """Ask for the pack of a unit and year; the task is queued after the commit, then its page shows progress."""
    unit = _unit_or_404(request.user, unit)
    year = _year_or_404(year)
    stage = request.POST.get("stage", OFFICIAL)
    if stage not in Rollup.Stage.values:
        stage = OFFICIAL
    created_pack, created = pack.request_pack(user=request.user, unit=unit, year=year, stage=stage,
                                              language=getattr(request, "LANGUAGE_CODE", ""))
    if created:
        transaction.on_commit(lambda: prepare_report_pack.delay(created_pack.pk))
    else:
        messages.info(request, _("This report pack is already being prepared."))
    return redirect(created_pack)


@login_required
@require_GET
def pack_detail(request: HttpRequest, pk: int) -> HttpResponse:
    found = _pack_or_404(request, pk)
    return render(request, "reports/pack_detail.html", {
        "pack": found, "progress": pack.progress(found), "unit": found.unit, "year": found.year,
        "forms": tables.FORMS.values(),
    })


@login_required
@require_GET
def pack_progress(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(pack.progress(_pack_or_404(request, pk)))


@login_required
@require_GET
def pack_download(request: HttpRequest, pk: int) -> HttpResponse:
    found = _pack_or_404(request, pk)
    if found.file_removed_at is not None:
        messages.error(request, pack.removed_message())
        return redirect(found)
    if found.status != ReportPack.Status.DONE or not found.file:
        raise Http404(_("This report pack is not ready."))
    try:
        handle = found.file.open("rb")
    except FileNotFoundError:
        raise Http404(_("The file of this report pack is no longer kept; prepare it again.")) from None
    access_log.record(request, access_log.Kind.REPORT_PACK, unit=found.unit, detail=pack.download_name(found))
    return FileResponse(handle, as_attachment=True, filename=pack.download_name(found),
                        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
