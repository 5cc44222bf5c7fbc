"""One shared world for the tests: units, a user per role, and households inside
and outside each role's area.

    Lào Cai (10, 2021 map)
      Mường Khương (083): Tả Thàng 02794 [officer], La Pan Tẩn 02791, TT Mường Khương 02761 (urban)
      Bát Xát (082): Y Tý 02701
    Yên Bái (15, 2021 map)
      Văn Yên (136): Xã An Bình 04480
    Lào Cai (15, 2025 map, no districts): Xã Mường Khương 02761

    officer      commune officer of Tả Thàng
    officer2     commune officer of Y Tý
    reviewer     reviewer of Mường Khương district
    reviewer2025 reviewer of the 2025 province (the unit above its communes)
    province     province administrator of Lào Cai (2021)
    superuser
"""

from dataclasses import dataclass
from datetime import date

from django.db import transaction

from core.models import AuditEvent, User
from geo.models import AdminUnit
from households import services
from households.models import Ethnicity, Household, Village
from households.reference import load_ethnicities
from reviews.models import HouseholdStatus, Indicator, PovertyStandard, ReviewRound
from reviews.services import movement, standard_for
from reviews.standards import load_standards

PASSWORD = "test-pass-123"


@dataclass
class World:
    province: AdminUnit
    district: AdminUnit
    district2: AdminUnit
    tathang: AdminUnit
    lapantan: AdminUnit
    town: AdminUnit
    yty: AdminUnit
    other_province: AdminUnit
    other_commune: AdminUnit
    province2025: AdminUnit
    commune2025: AdminUnit
    officer: User
    officer2: User
    reviewer: User
    reviewer2025: User
    province_admin: User
    superuser: User
    village: Village
    household: Household  # in Tả Thàng
    household_lapantan: Household  # same district, other commune
    household_yty: Household  # other district, same province
    household_outside: Household  # other province
    household_2025: Household


def unit(edition, level, code, name, parent=None, *, urban=False, kind=""):
    province = parent.province if parent is not None else None
    obj = AdminUnit.objects.create(edition=edition, level=level, code=code, name=name, parent=parent,
                                   province=province, is_urban=urban, kind=kind)
    if level == AdminUnit.Level.PROVINCE:
        obj.province = obj
        obj.save(update_fields=["province"])
    return obj


def user(username, role="", unit_obj=None, **extra):
    return User.objects.create_user(username=username, password=PASSWORD, role=role, unit=unit_obj,
                                    is_staff=True, **extra)


def member(name, relation="head", sex="male", year=1980, ethnicity="Mông", personal_id="", **extra):
    values = {"full_name": name, "relation": relation, "sex": sex, "birth_year": year,
              "birth_date": None, "personal_id": personal_id,
              "ethnicity": Ethnicity.objects.get(name=ethnicity), "has_health_insurance": True}
    values.update(extra)
    return services.MemberInput(values=values)


def recognise(household, category, year):
    """Test data for a household already on a list: the decided regular round (June of `year`) of its
    commune that recognised `category`, the household's official status from it, and the register as
    the decision service leaves it. The register holds only what a decision recognised, so a test that
    needs a poor household gets one the figures count too; a test about decisions runs the services."""
    with transaction.atomic():
        return _recognise(household, category, year)


def _recognise(household, category, year):
    round_, _created = ReviewRound.objects.get_or_create(
        commune=household.commune, year=year, kind=ReviewRound.Kind.REGULAR, month=6,
        defaults={"standard": standard_for(year, household.commune), "status": ReviewRound.Status.DECIDED,
                  "decision_number": f"{year}-06/QĐ-UBND", "decision_date": date(year, 6, 20),
                  "decision_signer": "Chủ tịch UBND xã"})
    previous = household.classification
    HouseholdStatus.objects.create(
        household=household, year=year, category=category, previous_category=previous,
        movement=movement(previous, category, was_poor_before=False), round=round_,
        standard_code=round_.standard.code, decided_on=round_.decision_date)
    Household.objects.filter(pk=household.pk).update(
        classification=category, classification_year=None if category == "none" else year)
    services.queue_summary_refresh(household.commune_id)
    household.refresh_from_db()
    return household


def make_household(actor, commune, village, head="Giàng A Páo", *, code="", others=(), classification="none",
                   classification_year=None, **values):
    """A household saved through the form's service; a classification other than none is then recognised
    by a decision (`recognise`), since the form does not set it."""
    values = {"village": village, "code": code, **values}
    rows = [member(head), *others]
    household = services.save_household(actor=actor, source=AuditEvent.Source.FORM, commune=commune,
                                        values=values, members=rows)
    if classification != "none":
        household = recognise(household, classification, classification_year or 2025)
    return household


def build_world() -> World:
    load_ethnicities(Ethnicity)
    # The standards come with a data migration, which a transactional test's flush removes.
    load_standards(PovertyStandard, Indicator)
    P, D, C = AdminUnit.Level.PROVINCE, AdminUnit.Level.DISTRICT, AdminUnit.Level.COMMUNE
    province = unit(2021, P, "10", "Tỉnh Lào Cai", kind="Tỉnh")
    district = unit(2021, D, "083", "Huyện Mường Khương", province, kind="Huyện")
    district2 = unit(2021, D, "082", "Huyện Bát Xát", province, kind="Huyện")
    tathang = unit(2021, C, "02794", "Xã Tả Thàng", district, kind="Xã")
    lapantan = unit(2021, C, "02791", "Xã La Pan Tẩn", district, kind="Xã")
    town = unit(2021, C, "02761", "Thị trấn Mường Khương", district, urban=True, kind="Thị trấn")
    yty = unit(2021, C, "02701", "Xã Y Tý", district2, kind="Xã")
    other_province = unit(2021, P, "15", "Tỉnh Yên Bái", kind="Tỉnh")
    other_district = unit(2021, D, "136", "Huyện Văn Yên", other_province, kind="Huyện")
    other_commune = unit(2021, C, "04480", "Xã An Bình", other_district, kind="Xã")
    province2025 = unit(2025, P, "15", "Lào Cai", kind="Tỉnh")
    commune2025 = unit(2025, C, "02761", "Xã Mường Khương", province2025, kind="Xã")

    superuser = User.objects.create_superuser("root", "root@example.org", PASSWORD)
    officer = user("officer", "commune_officer", tathang, first_name="Lan", last_name="Nguyễn Thị")
    officer2 = user("officer2", "commune_officer", yty)
    reviewer = user("reviewer", "reviewer", district)
    reviewer2025 = user("reviewer2025", "reviewer", province2025)
    province_admin = user("province", "province_admin", province)

    village = services.create_village(actor=officer, commune=tathang, name="Thôn Tả Thàng")
    v_lapantan = services.get_or_create_village(lapantan, "Thôn Lao Táo")
    v_yty = services.get_or_create_village(yty, "Thôn Choản Thèn")
    v_other = services.get_or_create_village(other_commune, "Thôn 1")
    v_2025 = services.get_or_create_village(commune2025, "Thôn Pạc Bo")

    household = make_household(
        officer, tathang, village, "Giàng A Páo", code="0001",
        others=[member("Vàng Thị Mỷ", "spouse", "female", 1983)], classification="poor", classification_year=2025,
    )
    return World(
        province=province, district=district, district2=district2, tathang=tathang, lapantan=lapantan,
        town=town, yty=yty, other_province=other_province, other_commune=other_commune,
        province2025=province2025, commune2025=commune2025,
        officer=officer, officer2=officer2, reviewer=reviewer, reviewer2025=reviewer2025,
        province_admin=province_admin, superuser=superuser, village=village, household=household,
        household_lapantan=make_household(superuser, lapantan, v_lapantan, "Sùng Seo Chứ", code="0001"),
        household_yty=make_household(superuser, yty, v_yty, "Phàn Láo San", code="0001"),
        household_outside=make_household(superuser, other_commune, v_other, "Nguyễn Văn Bình", code="0001"),
        household_2025=make_household(superuser, commune2025, v_2025, "Lù Văn Thắng", code="0001"),
    )
