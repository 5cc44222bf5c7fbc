"""2021 communes and their successors on the 2025 map: the derived file and its loader."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import translation

from geo import services
from geo.models import AdminUnit, CommuneSuccessor
from geo.services import AdminUnitDataError, default_successor, load_admin_units, load_commune_successors, successors_of


def file_rows() -> list[dict[str, str]]:
    with services.successors_file().open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


ROWS = file_rows()
OLD_CODES = {r["old_code"] for r in ROWS}


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def both_editions(db) -> None:
    load_admin_units(2021)
    load_admin_units(2025)


def commune(edition: int, code: str) -> AdminUnit:
    return AdminUnit.objects.get(edition=edition, level="commune", code=code)


# --- the data file (no database) ---------------------------------------------------


def test_successor_file_is_nfc_and_every_old_commune_has_one_default() -> None:
    text = services.successors_file().read_text(encoding="utf-8")
    assert unicodedata.is_normalized("NFC", text) and not text.startswith("\ufeff")
    assert list(ROWS[0]) == services.SUCCESSOR_HEADER
    assert all(re.fullmatch(r"\d{5}", r["old_code"]) and re.fullmatch(r"\d{5}", r["new_code"]) for r in ROWS)
    defaults = Counter(r["old_code"] for r in ROWS if r["is_default"] == "true")
    assert set(defaults) == OLD_CODES and set(defaults.values()) == {1}
    # 10,032 of the 10,051 communes of 2021 (geo/data/README.md says which 19 are missing).
    assert len(OLD_CODES) == 10_032


def test_every_code_in_the_file_is_a_commune_of_its_edition() -> None:
    def communes(edition: int) -> set[str]:
        with services.data_file(edition).open(encoding="utf-8", newline="") as fh:
            return {r["code"] for r in csv.DictReader(fh) if r["level"] == "commune"}

    assert not OLD_CODES - communes(2021)
    assert not {r["new_code"] for r in ROWS} - communes(2025)


# --- the loader --------------------------------------------------------------------


def test_loader_loads_every_link_and_a_rerun_changes_nothing(both_editions) -> None:
    counts = load_commune_successors()
    assert counts == {"created": len(ROWS), "updated": 0, "unchanged": 0, "not_in_file": 0, "communes": 10_032}
    assert CommuneSuccessor.objects.count() == len(ROWS)
    before = list(CommuneSuccessor.objects.order_by("pk").values_list("pk", "old_id", "new_id", "is_default"))

    again = load_commune_successors()
    assert again == {"created": 0, "updated": 0, "unchanged": len(ROWS), "not_in_file": 0, "communes": 10_032}
    assert list(CommuneSuccessor.objects.order_by("pk").values_list("pk", "old_id", "new_id", "is_default")) == before

    # Every link joins a 2021 commune to a 2025 commune.
    assert not CommuneSuccessor.objects.exclude(old__edition=2021, old__level="commune").exists()
    assert not CommuneSuccessor.objects.exclude(new__edition=2025, new__level="commune").exists()

    # Merged whole: Tả Thàng and La Pan Tẩn (Mường Khương, Lào Cai) both became Xã Cao Sơn.
    for code in ("02794", "02791"):
        old = commune(2021, code)
        assert [unit.code for unit in successors_of(old)] == ["02791"]
        assert default_successor(old).name == "Xã Cao Sơn"

    # Divided: Phường Điện Biên (Ba Đình) went to four wards; Phường Ba Đình is the default.
    divided = commune(2021, "00019")
    assert [unit.code for unit in successors_of(divided)] == ["00004", "00070", "00190", "00196"]
    assert default_successor(divided) == commune(2025, "00004")
    assert CommuneSuccessor.objects.filter(old=divided, is_default=True).count() == 1

    # A commune the package does not know has none.
    gone = commune(2021, "03751")
    assert successors_of(gone) == [] and default_successor(gone) is None


def test_command_reports_the_count_only_once_both_editions_are_loaded(db) -> None:
    out = StringIO()
    call_command("load_admin_units", "--edition", "2025", stdout=out)
    assert "skipped until both editions are loaded" in out.getvalue()
    assert not CommuneSuccessor.objects.exists()

    out = StringIO()
    call_command("load_admin_units", "--edition", "2021", stdout=out)
    assert f"{len(OLD_CODES)} communes of 2021 have a successor" in out.getvalue()
    assert CommuneSuccessor.objects.values("old").distinct().count() == len(OLD_CODES)


def test_changed_default_moves_without_breaking_the_one_default_rule(both_editions, tmp_path) -> None:
    load_commune_successors()
    # The file now names Phường Điện Biên's second successor (Phường Hoàn Kiếm) as its default.
    moved = [
        {**r, "is_default": {"00004": "false", "00070": "true"}.get(r["new_code"], r["is_default"])}
        if r["old_code"] == "00019" else r
        for r in ROWS
    ]
    with (tmp_path / services.SUCCESSOR_FILE).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=services.SUCCESSOR_HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(moved)
    counts = load_commune_successors(data_dir=tmp_path)
    assert counts["updated"] == 2
    assert default_successor(commune(2021, "00019")) == commune(2025, "00070")


def test_second_default_for_one_commune_is_refused_by_the_database(both_editions) -> None:
    load_commune_successors()
    extra = CommuneSuccessor(old=commune(2021, "00019"), new=commune(2025, "00097"), is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        extra.save()


def test_file_with_two_defaults_loads_nothing(both_editions, tmp_path) -> None:
    (tmp_path / services.SUCCESSOR_FILE).write_text(
        "old_code,new_code,is_default\n00001,00097,true\n00004,00004,true\n00004,00008,true\n", encoding="utf-8"
    )
    with pytest.raises(AdminUnitDataError, match="00004 must have exactly one default successor"):
        load_commune_successors(data_dir=tmp_path)
    assert not CommuneSuccessor.objects.exists()


def test_file_naming_an_unknown_commune_loads_nothing(both_editions, tmp_path) -> None:
    (tmp_path / services.SUCCESSOR_FILE).write_text(
        "old_code,new_code,is_default\n00001,00097,true\n99999,00004,true\n", encoding="utf-8"
    )
    with pytest.raises(AdminUnitDataError, match="99999 is not in the 2021 edition"):
        load_commune_successors(data_dir=tmp_path)
    assert not CommuneSuccessor.objects.exists()
