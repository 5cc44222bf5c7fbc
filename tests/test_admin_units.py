"""The administrative map: the committed data files and their loader."""

from __future__ import annotations

import csv
import shutil
import unicodedata
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F, Q
from django.db.models.functions import Length
from django.utils import translation

from geo import services
from geo.models import AdminUnit
from geo.services import AdminUnitDataError, load_admin_units

PROVINCE, DISTRICT, COMMUNE = "province", "district", "commune"

EXPECTED = {
    2021: {PROVINCE: 63, DISTRICT: 696, COMMUNE: 10_051},
    2025: {PROVINCE: 34, DISTRICT: 0, COMMUNE: 3_321},
}


@pytest.fixture(autouse=True)
def _english():
    # The project's default language is Vietnamese; the messages asserted below
    # are the English msgids.
    with translation.override("en"):
        yield


def level_counts(edition: int) -> dict[str, int]:
    units = AdminUnit.objects.filter(edition=edition)
    return {level: units.filter(level=level).count() for level in (PROVINCE, DISTRICT, COMMUNE)}


def snapshot(edition: int) -> list[tuple]:
    return list(
        AdminUnit.objects.filter(edition=edition)
        .order_by("pk")
        .values_list("pk", "level", "code", "name", "kind", "is_urban", "parent_id", "province_id")
    )


# --- the data files themselves (no database) ---------------------------------


@pytest.mark.parametrize("edition", [2021, 2025])
def test_data_file_is_nfc_and_well_formed(edition: int) -> None:
    text = services.data_file(edition).read_text(encoding="utf-8")
    assert unicodedata.is_normalized("NFC", text)
    assert not text.startswith("\ufeff")
    rows = list(csv.DictReader(StringIO(text)))
    assert list(rows[0]) == services.HEADER
    # Provinces, then districts, then communes; by code within a level.
    order = {PROVINCE: 0, DISTRICT: 1, COMMUNE: 2}
    keys = [(order[r["level"]], r["code"]) for r in rows]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))
    assert {r["is_urban"] for r in rows} == {"true", "false"}


# --- loading -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("edition", [2021, 2025])
def test_edition_loads_with_official_counts(edition: int) -> None:
    counts = load_admin_units(edition)

    expected_levels = [lvl for lvl in (PROVINCE, DISTRICT, COMMUNE) if EXPECTED[edition][lvl]]
    assert list(counts) == expected_levels
    for level in expected_levels:
        assert counts[level] == {
            "created": EXPECTED[edition][level],
            "updated": 0,
            "unchanged": 0,
            "not_in_file": 0,
        }
    assert level_counts(edition) == EXPECTED[edition]


@pytest.mark.django_db
def test_both_editions_coexist() -> None:
    load_admin_units(2021)
    load_admin_units(2025)

    assert level_counts(2021) == EXPECTED[2021]
    assert level_counts(2025) == EXPECTED[2025]
    # Same code, different units: Lào Cai was 10 before the 2025 merger and is 15 after.
    hanoi = AdminUnit.objects.filter(level=PROVINCE, code="01")
    assert sorted(hanoi.values_list("edition", flat=True)) == [2021, 2025]
    assert AdminUnit.objects.get(edition=2025, level=PROVINCE, code="15").name == "Lào Cai"
    assert not AdminUnit.objects.filter(edition=2025, level=PROVINCE, code="10").exists()


@pytest.mark.django_db
def test_lao_cai_muong_khuong_2021() -> None:
    load_admin_units(2021)
    units = AdminUnit.objects.edition(2021)

    lao_cai = units.get(level=PROVINCE, code="10")
    assert (lao_cai.name, lao_cai.kind, lao_cai.is_urban) == ("Tỉnh Lào Cai", "Tỉnh", False)
    assert lao_cai.parent is None
    assert lao_cai.province == lao_cai

    muong_khuong = units.get(level=DISTRICT, code="083")
    assert (muong_khuong.name, muong_khuong.kind, muong_khuong.is_urban) == (
        "Huyện Mường Khương",
        "Huyện",
        False,
    )
    assert muong_khuong.parent == lao_cai
    assert muong_khuong.province == lao_cai

    communes = {u.code: u for u in units.communes().filter(parent=muong_khuong)}
    assert len(communes) == 16
    assert all(u.province_id == lao_cai.pk for u in communes.values())

    ta_thang = communes["02794"]
    assert (ta_thang.name, ta_thang.kind, ta_thang.is_urban) == ("Xã Tả Thàng", "Xã", False)
    la_pan_tan = communes["02791"]
    assert (la_pan_tan.name, la_pan_tan.kind, la_pan_tan.is_urban) == ("Xã La Pan Tẩn", "Xã", False)
    township = communes["02761"]
    assert (township.name, township.kind, township.is_urban) == (
        "Thị trấn Mường Khương",
        "Thị trấn",
        True,
    )
    assert ta_thang.label == "Xã Tả Thàng, Huyện Mường Khương"


@pytest.mark.django_db
def test_kinds_and_urban_flags() -> None:
    load_admin_units(2021)
    load_admin_units(2025)
    communes = AdminUnit.objects.communes()

    # Urban iff phường or thị trấn, in both editions; đặc khu counts as rural.
    assert set(communes.filter(is_urban=True).values_list("kind", flat=True)) == {"Phường", "Thị trấn"}
    assert set(communes.filter(is_urban=False).values_list("kind", flat=True)) == {"Xã", "Đặc khu"}
    assert communes.filter(edition=2025, kind="Thị trấn").count() == 0  # abolished with districts
    assert communes.filter(edition=2025, kind="Đặc khu").count() == 13
    assert communes.get(edition=2025, name="Đặc khu Phú Quốc").is_urban is False
    assert not AdminUnit.objects.exclude(level=COMMUNE).filter(is_urban=True).exists()
    assert set(AdminUnit.objects.filter(edition=2021, level=DISTRICT).values_list("kind", flat=True)) == {
        "Huyện",
        "Quận",
        "Thị xã",
        "Thành phố",
    }
    # The source spells two city names "Thành Phố"; the kind is still canonical.
    assert AdminUnit.objects.get(edition=2021, level=DISTRICT, name="Thành Phố Bắc Kạn").kind == "Thành phố"
    assert set(AdminUnit.objects.filter(level=PROVINCE).values_list("kind", flat=True)) == {
        "Tỉnh",
        "Thành phố",
    }


@pytest.mark.django_db
def test_every_unit_has_the_right_parent_and_province() -> None:
    load_admin_units(2021)
    load_admin_units(2025)

    assert not AdminUnit.objects.communes().filter(Q(parent=None) | Q(province=None)).exists()
    assert not AdminUnit.objects.filter(level=DISTRICT).filter(Q(parent=None) | Q(province=None)).exists()

    provinces = AdminUnit.objects.filter(level=PROVINCE)
    assert not provinces.exclude(parent=None).exists()
    assert not provinces.exclude(province=F("pk")).exists()

    # 2021: commune -> district -> province, and the commune's province is its district's.
    c2021 = AdminUnit.objects.communes().edition(2021)
    assert not c2021.exclude(parent__level=DISTRICT).exists()
    assert not c2021.exclude(province=F("parent__province")).exists()
    d2021 = AdminUnit.objects.edition(2021).filter(level=DISTRICT)
    assert not d2021.exclude(parent__level=PROVINCE).exists()
    assert not d2021.exclude(province=F("parent")).exists()

    # 2025: commune -> province directly.
    c2025 = AdminUnit.objects.communes().edition(2025)
    assert not c2025.exclude(parent__level=PROVINCE).exists()
    assert not c2025.exclude(province=F("parent")).exists()

    # Never across editions.
    assert not AdminUnit.objects.exclude(parent=None).exclude(parent__edition=F("edition")).exists()


@pytest.mark.django_db
def test_codes_keep_leading_zeros() -> None:
    load_admin_units(2021)
    load_admin_units(2025)

    width = {PROVINCE: 2, DISTRICT: 3, COMMUNE: 5}
    for level, n in width.items():
        assert not AdminUnit.objects.filter(level=level).exclude(code__regex=r"^[0-9]+$").exists()
        assert not AdminUnit.objects.filter(level=level).annotate(n=Length("code")).exclude(n=n).exists()

    assert AdminUnit.objects.get(edition=2021, level=PROVINCE, code="01").name == "Thành phố Hà Nội"
    assert AdminUnit.objects.get(edition=2021, level=DISTRICT, code="001").name == "Quận Ba Đình"
    assert AdminUnit.objects.get(edition=2021, level=COMMUNE, code="00001").name == "Phường Phúc Xá"
    assert not AdminUnit.objects.filter(code__in=["1", "2794", "83"], level__in=[DISTRICT, COMMUNE]).exists()


# --- re-running ------------------------------------------------------------------


@pytest.mark.django_db
def test_rerun_changes_nothing_and_says_so(django_assert_max_num_queries) -> None:
    first = StringIO()
    call_command("load_admin_units", stdout=first, stderr=StringIO())
    assert "Edition 2021 loaded" in first.getvalue()
    before = {edition: snapshot(edition) for edition in (2021, 2025)}

    second = StringIO()
    # One SELECT per edition plus the transaction's own statements, then the
    # successors: one look at which editions are loaded, the two code maps and the
    # existing links, in their own transaction. No writes.
    with django_assert_max_num_queries(12):
        call_command("load_admin_units", stdout=second, stderr=StringIO())
    out = second.getvalue()

    assert "0 created, 0 updated, 10051 unchanged" in out
    assert "0 created, 0 updated, 696 unchanged" in out
    assert "0 created, 0 updated, 3321 unchanged" in out
    assert "Edition 2021 is already up to date: nothing changed." in out
    assert "Edition 2025 is already up to date: nothing changed." in out
    assert "Commune successors: 0 created, 0 updated, 10594 unchanged" in out
    assert {edition: snapshot(edition) for edition in (2021, 2025)} == before
    assert level_counts(2021) == EXPECTED[2021]
    assert level_counts(2025) == EXPECTED[2025]


@pytest.mark.django_db
def test_rerun_service_counts_unchanged() -> None:
    load_admin_units(2025)
    counts = load_admin_units(2025)
    assert counts == {
        PROVINCE: {"created": 0, "updated": 0, "unchanged": 34, "not_in_file": 0},
        COMMUNE: {"created": 0, "updated": 0, "unchanged": 3321, "not_in_file": 0},
    }


@pytest.mark.django_db
def test_rerun_repairs_edited_units_in_place() -> None:
    load_admin_units(2021)
    township = AdminUnit.objects.get(edition=2021, level=COMMUNE, code="02761")
    lao_cai = AdminUnit.objects.get(edition=2021, level=PROVINCE, code="10")
    AdminUnit.objects.filter(pk=township.pk).update(name="Renamed", is_urban=False)
    AdminUnit.objects.filter(pk=lao_cai.pk).update(province=None)
    # A unit the file does not know is reported, not deleted.
    stray = AdminUnit.objects.create(
        edition=2021, level=COMMUNE, code="99999", name="Xã Không Có", kind="Xã", parent=township.parent
    )

    counts = load_admin_units(2021)

    assert counts[PROVINCE] == {"created": 0, "updated": 1, "unchanged": 62, "not_in_file": 0}
    assert counts[DISTRICT] == {"created": 0, "updated": 0, "unchanged": 696, "not_in_file": 0}
    assert counts[COMMUNE] == {"created": 0, "updated": 1, "unchanged": 10_050, "not_in_file": 1}
    township.refresh_from_db()
    lao_cai.refresh_from_db()
    assert (township.name, township.is_urban) == ("Thị trấn Mường Khương", True)
    assert lao_cai.province_id == lao_cai.pk
    assert AdminUnit.objects.filter(pk=stray.pk).exists()


@pytest.mark.django_db
def test_command_loads_only_the_requested_edition() -> None:
    out = StringIO()
    call_command("load_admin_units", "--edition", "2025", "--edition", "2025", stdout=out)
    assert level_counts(2025) == EXPECTED[2025]
    assert not AdminUnit.objects.filter(edition=2021).exists()
    assert out.getvalue().count("Edition 2025:") == 1


# --- bad input -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["2030", "abc", "all"])
def test_unknown_edition_is_a_command_error(value: str) -> None:
    with pytest.raises(CommandError, match=f"Unknown edition “{value}”; choose from 2021, 2025"):
        call_command("load_admin_units", "--edition", value)
    assert not AdminUnit.objects.exists()


def test_service_rejects_unknown_edition() -> None:
    with pytest.raises(AdminUnitDataError, match="Unknown edition 2030"):
        load_admin_units(2030)


@pytest.mark.django_db
def test_missing_file_is_a_command_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "DATA_DIR", tmp_path)
    with pytest.raises(CommandError, match="The data file for edition 2021 is missing"):
        call_command("load_admin_units", "--edition", "2021")
    assert not AdminUnit.objects.exists()


@pytest.mark.django_db
def test_bad_file_loads_nothing(tmp_path: Path) -> None:
    shutil.copy(services.data_file(2025), tmp_path / "admin_units_2025.csv")
    with (tmp_path / "admin_units_2025.csv").open("a", encoding="utf-8") as fh:
        fh.write("commune,1234,Xã Mất Số Không,Xã,false,15\n")

    with pytest.raises(AdminUnitDataError, match=r"line 3357: code “1234” is not a 5-digit code"):
        load_admin_units(2025, data_dir=tmp_path)
    assert not AdminUnit.objects.exists()


@pytest.mark.django_db
def test_orphan_row_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "admin_units_2025.csv").write_text(
        "level,code,name,kind,is_urban,parent_code\n"
        "province,15,Lào Cai,Tỉnh,false,\n"
        "commune,02794,Xã Tả Thàng,Xã,false,10\n",
        encoding="utf-8",
    )
    with pytest.raises(AdminUnitDataError, match="(?i)parent province “10” is not listed"):
        load_admin_units(2025, data_dir=tmp_path)
    assert not AdminUnit.objects.exists()
