from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core import access_log
from core.models import AuditEvent, User
from core.pagination import KeysetPaginator, page_links
from core.permissions import Action, can
from core.scoping import communes_for
from core.text import search_limit_problem

from . import selectors, services
from .forms import (
    CommunePickForm,
    HouseholdFilterForm,
    HouseholdForm,
    MemberFormSet,
    ReasonForm,
    VillageForm,
    attach_errors,
    member_initial,
)
from .models import Household


def _household_or_404(request: HttpRequest, pk: int) -> Household:
    """Outside the user's area a household does not exist for them (404, not 403)."""
    try:
        return selectors.household_for_user(request.user, pk)
    except Household.DoesNotExist:
        raise Http404(_("No such household in your area.")) from None


def _require_editor(request: HttpRequest) -> None:
    if not can(request.user, Action.EDIT_HOUSEHOLDS):
        raise PermissionDenied(_("Your role may look at households but not change them."))


@login_required
def household_list(request: HttpRequest) -> HttpResponse:
    form = HouseholdFilterForm(request.GET or None, user=request.user)
    problem = search_limit_problem(request.GET.get("q"))
    if problem:
        messages.warning(request, problem)
    filters = form.cleaned_data if form.is_valid() else {}
    households = selectors.household_list(
        request.user,
        q=filters.get("q", ""),
        commune=filters.get("commune"),
        village=filters.get("village"),
        classification=filters.get("classification", ""),
        ethnic_minority=filters.get("ethnic_minority", ""),
        archived=filters.get("archived", ""),
    )
    # Keyset pages in the (commune, code) order of the `household_list` index: a deep page of a
    # province costs what the first one does, and the count stops at COUNT_CAP.
    page = KeysetPaginator(households, ("commune_id", "code"), filters.get("per_page") or 25).page(request.GET)
    query = request.GET.copy()
    for name in ("after", "before", "last", "n", "page"):
        query.pop(name, None)
    page.links = page_links(page, query.urlencode())
    if page.cursor_ignored:
        messages.warning(request, _("This page link is damaged or out of date; the first page is shown."))
    return render(request, "households/household_list.html", {"form": form, "page": page})


@login_required
def household_detail(request: HttpRequest, pk: int) -> HttpResponse:
    household = _household_or_404(request, pk)
    members = list(household.members.all())
    _log_whole_ids(request, household, members, access_log.Kind.HOUSEHOLD_PAGE)
    return render(request, "households/household_detail.html", {
        "household": household,
        "members": [m for m in members if not m.is_archived],
        "former_members": [m for m in members if m.is_archived],
        "history": selectors.household_history(household)[:200],
        "full_ids": request.user.sees_full_personal_ids,
        "can_edit": can(request.user, Action.EDIT_HOUSEHOLDS),
    })


def _log_whole_ids(request: HttpRequest, household: Household, members, kind: str) -> None:
    """Log a page that shows whole personal IDs (one entry, counting the IDs shown)."""
    if not request.user.sees_full_personal_ids:
        return
    shown = sum(1 for m in members if m.personal_id)
    if shown:
        access_log.record(request, kind, household=household, count=shown, whole_ids=True)


def _member_rows(formset, household: Household | None) -> list[services.MemberInput]:
    existing = {m.pk: m for m in household.members.all()} if household else {}
    rows = []
    for form in formset.forms:
        data = form.cleaned_data
        if not data:
            continue
        member = existing.get(data.get("member_id"))
        if data.get("member_id") and member is None:
            raise PermissionDenied(_("A member of another household was submitted."))
        if data.get("remove"):
            if member is not None:
                rows.append(services.MemberInput(values={}, member=member, archive_reason=data["leave_reason"]))
            continue
        values = {name: data.get(name) for name in services.MEMBER_FIELDS}
        values["personal_id"] = values["personal_id"] or ""
        rows.append(services.MemberInput(values=values, member=member))
    return rows


def _edit(request: HttpRequest, household: Household | None, commune) -> HttpResponse:
    if request.method == "POST":
        form = HouseholdForm(request.POST, instance=household, commune=commune)
        formset = MemberFormSet(request.POST, prefix="members")
        if form.is_valid() and formset.is_valid():
            try:
                saved = services.save_household(
                    actor=request.user, source=AuditEvent.Source.FORM, commune=commune,
                    values=form.cleaned_data, members=_member_rows(formset, household),
                    household=household, expected_version=form.cleaned_data.get("version"),
                )
            except services.StaleEdit as exc:
                # Keep everything the user typed; tell them, and let them look and save again.
                messages.error(request, _("%(problem)s Your changes are kept below: check the current "
                                          "record, then save again to replace it.") % {"problem": exc})
                data = request.POST.copy()
                data["version"] = exc.household.version
                form = HouseholdForm(data, instance=household, commune=commune)
                form.is_valid()
            except ValidationError as exc:
                attach_errors(form, exc)
            else:
                messages.success(request, _("Household %(code)s saved.") % {"code": saved.code})
                return redirect(saved)
    else:
        form = HouseholdForm(instance=household, commune=commune)
        current = [m for m in household.members.all() if not m.is_archived] if household else []
        initial = [member_initial(m) for m in current]
        if household is not None:
            _log_whole_ids(request, household, current, access_log.Kind.HOUSEHOLD_FORM)
        formset = MemberFormSet(prefix="members", initial=initial)
    return render(request, "households/household_form.html", {
        "form": form, "formset": formset, "household": household, "commune": commune,
    })


@login_required
@require_http_methods(["GET", "POST"])
def household_create(request: HttpRequest) -> HttpResponse:
    _require_editor(request)
    communes = communes_for(request.user)
    if request.user.role == User.Role.COMMUNE_OFFICER:  # their one commune; others pick
        commune = communes.first()
    else:
        pick = CommunePickForm(request.GET or None, user=request.user)
        if not pick.is_valid():
            return render(request, "households/commune_pick.html", {"form": pick})
        commune = pick.cleaned_data["commune_code"]
    if commune is None:
        raise PermissionDenied(_("Your account is not bound to a commune."))
    return _edit(request, None, commune)


@login_required
@require_http_methods(["GET", "POST"])
def household_edit(request: HttpRequest, pk: int) -> HttpResponse:
    household = _household_or_404(request, pk)
    _require_editor(request)
    if household.is_archived:
        messages.error(request, _("An archived household cannot be edited; restore it first."))
        return redirect(household)
    return _edit(request, household, household.commune)


def _reason_action(request: HttpRequest, pk: int, action, template: str, done: str) -> HttpResponse:
    household = _household_or_404(request, pk)
    _require_editor(request)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            action(actor=request.user, household=household, reason=form.cleaned_data["reason"],
                   source=AuditEvent.Source.FORM)
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, done % {"code": household.code})
            return redirect(household)
    return render(request, template, {"household": household, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def household_archive(request: HttpRequest, pk: int) -> HttpResponse:
    return _reason_action(request, pk, services.archive_household, "households/household_archive.html",
                          _("Household %(code)s archived. Its record and history are kept."))


@login_required
@require_http_methods(["GET", "POST"])
def household_restore(request: HttpRequest, pk: int) -> HttpResponse:
    return _reason_action(request, pk, services.restore_household, "households/household_restore.html",
                          _("Household %(code)s restored."))


@login_required
@require_http_methods(["GET", "POST"])
def village_list(request: HttpRequest) -> HttpResponse:
    # An officer adds villages to their one commune (a superuser does it in the admin).
    can_add = request.user.role == User.Role.COMMUNE_OFFICER and can(request.user, Action.EDIT_HOUSEHOLDS)
    form = VillageForm(request.POST or None) if can_add else None
    if request.method == "POST":
        if not can_add:
            raise PermissionDenied(_("Only a commune officer adds villages to their commune."))
        if form.is_valid():
            try:
                village = services.create_village(
                    actor=request.user, commune=communes_for(request.user).get(), name=form.cleaned_data["name"]
                )
            except ValidationError as exc:
                attach_errors(form, exc)
            else:
                messages.success(request, _("Village %(name)s added.") % {"name": village.name})
                return redirect("households:villages")
    villages = selectors.villages_for(request.user)
    page = Paginator(villages, 100).get_page(request.GET.get("page"))
    return render(request, "households/village_list.html", {"page": page, "form": form})
