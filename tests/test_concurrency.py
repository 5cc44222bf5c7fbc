"""Two officers saving the same household at the same moment (real threads, real
database connections): one save wins, the other is told and nothing is lost."""

import threading

import pytest
from django.db import close_old_connections, connection

from households import services
from households.models import Household

from .world import build_world


def values_of(household, phone):
    return {"village": household.village, "code": household.code, "phone": phone}


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_saves_from_the_same_version_one_wins_one_is_told():
    if connection.vendor != "postgresql":
        pytest.skip("row locks between connections are exercised on PostgreSQL")
    world = build_world()
    household = Household.objects.get(pk=world.household.pk)
    rows = [services.MemberInput(values={n: getattr(m, n) for n in services.MEMBER_FIELDS}, member=m)
            for m in household.members.all()]
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def save(phone):
        try:
            barrier.wait(timeout=10)
            services.save_household(actor=world.officer, source="form", commune=household.commune,
                                    values=values_of(household, phone), members=rows, household=household,
                                    expected_version=household.version)
            outcomes[phone] = "saved"
        except services.StaleEdit:
            outcomes[phone] = "stale"
        finally:
            close_old_connections()

    threads = [threading.Thread(target=save, args=(phone,)) for phone in ("0911111111", "0922222222")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["saved", "stale"]
    winner = next(phone for phone, outcome in outcomes.items() if outcome == "saved")
    stored = Household.objects.get(pk=household.pk)
    assert stored.phone == winner and stored.version == household.version + 1
