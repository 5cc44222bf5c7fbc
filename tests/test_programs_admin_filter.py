"""The admin's program filter lists the national programs and the user's province's own, never
another province's own programs."""

import pytest
from django.urls import reverse

from programs.models import Program

from .programs_world import program


@pytest.fixture
def local_programs(world):
    program("DA5")  # the national catalogue
    ours = Program.objects.create(code="LC-01", name="Hỗ trợ giống cây Lào Cai", kind=Program.Kind.LOCAL,
                                  start_year=2022, province=world.province)
    theirs = Program.objects.create(code="YB-01", name="Hỗ trợ bò giống Yên Bái", kind=Program.Kind.LOCAL,
                                    start_year=2022, province=world.other_province)
    return ours, theirs


def _filter_choices(client, url_name) -> set[str]:
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    spec = next(f for f in response.context["cl"].filter_specs if getattr(f, "field_path", "") == "program")
    return {name for _pk, name in spec.lookup_choices}


@pytest.mark.parametrize("url_name", ["admin:programs_intervention_changelist",
                                      "admin:programs_budgetallocation_changelist"])
@pytest.mark.parametrize("role", ["officer", "reviewer", "province_admin"])
def test_program_filter_lists_national_and_own_province_programs_only(world, client, local_programs, role,
                                                                        url_name):
    ours, theirs = local_programs
    client.force_login(getattr(world, role))
    names = _filter_choices(client, url_name)
    assert str(ours) in names and str(program("DA5")) in names
    assert str(theirs) not in names


def test_program_filter_of_a_superuser_lists_every_province_program(world, client, local_programs):
    ours, theirs = local_programs
    client.force_login(world.superuser)
    assert {str(ours), str(theirs)} <= _filter_choices(client, "admin:programs_intervention_changelist")
