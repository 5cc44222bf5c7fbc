from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from geo.models import AdminUnit
from households.models import CommuneSummary
from households.summaries import totals

from .scoping import communes_for


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The user's area and its headline numbers, read from the commune summaries."""
    communes = communes_for(request.user)
    summaries = (
        CommuneSummary.objects.filter(commune__in=communes)
        .select_related("commune")
        .order_by("-poor", "commune__code")
    )
    unit = request.user.unit
    return render(request, "core/home.html", {
        "unit": unit,
        "totals": totals(communes),
        "communes": summaries[:50] if unit is None or unit.level != AdminUnit.Level.COMMUNE else [],
        "commune_count": communes.count(),
    })
