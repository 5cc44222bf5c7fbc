"""Demo data: a year of support in the demo communes, so the support report and the path out read true.

`build_support(communes, stdout)` is called at the end of `households.demo.build()`.
For the last decided year it gives health-insurance cards and the electricity
allowance to every household on the lists, houses to a few poor households,
policy-credit loans (some from the year before, with repayments), one training
course, one job fair, one production project and a few infrastructure works per
commune, the budgets behind them, helpers and visits, and escape registrations
that the year's decision has already resolved (and some for this year).

Rows are written in bulk, with one CREATE audit event per support (source demo).
It does nothing when the communes already have support records. Amounts are
examples in the order of magnitude of the rules (Decision 90/QĐ-TTg/2022 caps
for housing and training); nothing here describes a real person.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TextIO

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import Change, record_many
from core.models import AuditEvent
from households.models import Household, Member
from reviews.models import HouseholdStatus, Survey

from .catalog import load_programs
from .models import (
    BudgetAllocation,
    CourseLearner,
    EscapeRegistration,
    Helper,
    HelperAssignment,
    InfrastructureWork,
    Intervention,
    JobFair,
    Loan,
    LoanBalance,
    MemberProfile,
    ProductionProject,
    Program,
    TrainingCourse,
    Visit,
)

SEED = 20_250_090
# A year's health-insurance contribution per person, as an example (4.5% of a 2,340,000 base salary × 12).
CARD = 1_263_600
ELECTRICITY = 650_000  # 30 kWh a month for a year, as an example
TRADES = ["Chăn nuôi gia súc", "Trồng và chăm sóc cây quế", "Trồng nấm", "Sửa chữa máy nông nghiệp",
          "May công nghiệp", "Nấu ăn", "Thêu thổ cẩm"]
PROJECTS = [("Nuôi bò sinh sản", "Tổ hợp tác chăn nuôi bò"), ("Nuôi lợn đen bản địa", "Tổ hợp tác chăn nuôi lợn"),
            ("Trồng quế hữu cơ", "Hợp tác xã nông lâm nghiệp"), ("Trồng chè shan tuyết", "Tổ hợp tác chè"),
            ("Nuôi dê", "Tổ hợp tác chăn nuôi dê")]
WORKS = [("Đường bê tông liên thôn", "roads"), ("Kênh mương nội đồng", "irrigation"),
         ("Đường điện hạ thế thôn", "electricity"), ("Phòng học điểm trường", "schools"),
         ("Nhà văn hóa thôn", "culture"), ("Trạm y tế xã (sửa chữa)", "health"),
         ("Điểm bố trí dân cư tập trung", "resettlement")]
HELPERS = [("Vàng Seo Chứ", "party_member", "Chi bộ thôn"), ("Lù Thị Hoa", "official", "UBND xã"),
           ("Giàng A Sử", "union_member", "Hội Nông dân xã"),
           ("Tẩn Thị Mẩy", "union_member", "Hội Liên hiệp Phụ nữ xã"),
           ("Nguyễn Văn Hùng", "official", "Công an xã"), ("Sùng A Lử", "village_head", "")]
FINDINGS = [("Nhà tạm, mái dột", "Đề xuất hỗ trợ sửa nhà (DA5)"),
            ("Chưa có nhà tiêu hợp vệ sinh", "Hướng dẫn vay vốn nước sạch và vệ sinh môi trường"),
            ("Con trong độ tuổi đi học đã nghỉ học", "Phối hợp nhà trường vận động trở lại lớp"),
            ("Lao động chính chưa có việc làm ổn định", "Giới thiệu lớp đào tạo nghề, phiên giao dịch việc làm"),
            ("Đã được hỗ trợ bò giống, chăm sóc tốt", "")]


@dataclass
class SupportResult:
    already_there: bool = False
    supports: int = 0
    loans: int = 0
    registrations: int = 0


def _months(rng: random.Random, year: int, first: int = 1, last: int = 11) -> date:
    return date(year, rng.randint(first, last), rng.randint(1, 28))


def build_support(communes, stdout: TextIO | None = None) -> SupportResult:
    """A year of support in `communes` (idempotent: nothing is added when they already have support)."""
    result = SupportResult()
    if not Program.objects.filter(code="DA5").exists():
        load_programs(Program)  # shipped by a migration; loaded again if a database was emptied since
    communes = list(communes)
    if Intervention.objects.filter(household__commune__in=communes).exists():
        result.already_there = True
    else:
        with transaction.atomic():
            _Builder(communes, result).build()
    if stdout is not None:
        if result.already_there:
            stdout.write(_("The demo support is already there; none was added.") + "\n")
        else:
            stdout.write(_("Demo support: %(supports)d supports, %(loans)d loans, %(registrations)d escape "
                           "registrations.") % {"supports": result.supports, "loans": result.loans,
                                                "registrations": result.registrations} + "\n")
    return result


class _Builder:
    def __init__(self, communes, result: SupportResult):
        self.rng = random.Random(SEED)
        self.communes, self.result = communes, result
        self.today = timezone.localdate()
        self.year = self.today.year - 1  # the last year the demo's reviews decided
        self.programs = {p.code: p for p in Program.objects.filter(province__isnull=True)}
        user_model = get_user_model()
        self.admin = user_model.objects.filter(username="admin").first()
        self.officers = {u.unit_id: u for u in user_model.objects.filter(role=user_model.Role.COMMUNE_OFFICER,
                                                                         unit__in=communes)}
        self.supports: list[Intervention] = []

    def program(self, code: str, year: int | None = None) -> Program | None:
        program = self.programs.get(code)
        return program if program is not None and program.runs_in(year or self.year) else None

    def build(self) -> None:
        households = list(Household.objects.filter(commune__in=self.communes, is_archived=False)
                          .select_related("commune").order_by("commune_id", "code"))
        by_pk = {h.pk: h for h in households}
        self.before = dict(HouseholdStatus.objects.filter(household__in=households, year=self.year - 1)
                           .values_list("household_id", "category"))
        self.members: dict[int, list[tuple[int, str, int]]] = {}
        for pk, hid, sex, birth_year in Member.objects.filter(household__in=households, is_archived=False) \
                .values_list("pk", "household_id", "sex", "birth_year").order_by("household_id", "pk"):
            self.members.setdefault(hid, []).append((pk, sex, birth_year))
        self.deprived = {}
        for hid, deprived in Survey.objects.filter(household__in=households, round__year=self.year - 1,
                                                   round__kind="periodic", status="surveyed").values_list(
                "household_id", "deprived"):
            self.deprived[hid] = deprived
        for commune in self.communes:
            mine = [h for h in households if h.commune_id == commune.pk]
            if mine:
                self.commune(commune, mine)
        created = Intervention.objects.bulk_create(self.supports, batch_size=2000)
        self.loans(created, by_pk)
        record_many([Change(s, AuditEvent.Action.CREATE, {
            "program": [None, str(s.program)], "given_on": [None, s.given_on.isoformat()], "kind": [None, s.kind],
            "amount": [None, s.amount], "status": [None, s.status]}, s.household_id) for s in created],
            actor=self.admin, source=AuditEvent.Source.DEMO, batch="demo-support")
        self.result.supports = len(created)

    def give(self, household: Household, code: str, given_on: date, kind: str, amount: int, source: str, **extra):
        program = self.program(code, given_on.year)
        if program is None:
            return None
        support = Intervention(household=household, program=program, given_on=given_on, kind=kind, amount=amount,
                               funding_source=source, status=Intervention.Status.DELIVERED,
                               created_by=self.officers.get(household.commune_id, self.admin), **extra)
        self.supports.append(support)
        return support

    def commune(self, commune, households: list[Household]) -> None:
        rng, year = self.rng, self.year
        officer = self.officers.get(commune.pk, self.admin)
        poor_before = [h for h in households if self.before.get(h.pk) == "poor"]
        near_before = [h for h in households if self.before.get(h.pk) == "near_poor"]
        # Standing supports for the year, from January (every household on last year's lists).
        for household in poor_before:
            size = len(self.members.get(household.pk, ())) or 1
            self.give(household, "BHYT-HN", date(year, 1, rng.randint(5, 25)), "service", CARD * size, "central",
                      quantity=size)
            self.give(household, "HT-DIEN", date(year, 3, rng.randint(1, 28)), "cash", ELECTRICITY, "central")
        for household in near_before:
            size = len(self.members.get(household.pk, ())) or 1
            self.give(household, "BHYT-HCN", date(year, 1, rng.randint(5, 25)), "service", CARD * size * 7 // 10,
                      "central", quantity=size)
        # Houses (DA5): a few poor households deprived on housing quality.
        housing = [h for h in poor_before if "housing_quality" in self.deprived.get(h.pk, ())]
        house_money = 0
        for household in rng.sample(housing, min(len(housing), rng.randint(2, 6))):
            new = rng.random() < 0.5
            amount = 40_000_000 if new else rng.choice([15_000_000, 20_000_000])
            if self.give(household, "DA5", _months(rng, year, 4, 10), "cash", amount, "central",
                         house_work="new" if new else "repair"):
                house_money += amount
        # Seed and livestock support for some near-poor households.
        for household in rng.sample(near_before, min(len(near_before), 8)):
            self.give(household, "HT-GIONG", _months(rng, year, 2, 5), "in_kind", rng.choice([3, 5, 8]) * 1_000_000,
                      "local")
        # Loans: lent last year and this year, to poor and near-poor households.
        borrowers = rng.sample(poor_before + near_before, min(len(poor_before + near_before),
                                                              max(3, len(poor_before + near_before) // 6)))
        for household in borrowers:
            lent = date(rng.choice([year - 1, year]), rng.randint(1, 11), rng.randint(1, 28))
            code = "NHCS-HN" if self.before.get(household.pk) == "poor" else "NHCS-HCN"
            if "latrine" in self.deprived.get(household.pk, ()) and rng.random() < 0.4:
                code = "NHCS-NSVS"
            principal = rng.randrange(20, 101, 5) * 1_000_000 if code != "NHCS-NSVS" else 20_000_000
            self.give(household, code, lent, "loan", principal, "credit",
                      note=rng.choice(["Mua bò sinh sản", "Nuôi lợn", "Trồng quế", "Làm nhà tiêu, bể nước"]))
        course_cost = self.course(commune, officer, poor_before + near_before)
        budget = self.project(commune, officer, poor_before)
        self.fair(commune, officer)
        works = self.works(commune, officer)
        for code, allocated, disbursed in (("DA5", house_money * 6 // 5, house_money),
                                           ("DA4.1", course_cost * 11 // 10, course_cost),
                                           ("DA3.1", budget, budget * rng.randint(60, 100) // 100),
                                           ("DA1.1", works, works * rng.randint(50, 90) // 100)):
            program = self.program(code)
            if program is not None and allocated:
                BudgetAllocation.objects.create(commune=commune, program=program, year=year, funding_source="central",
                                                allocated=allocated, disbursed=disbursed - disbursed % 1000,
                                                updated_by=officer)
        self.casework(commune, officer, households)

    def course(self, commune, officer, households: list[Household]) -> int:
        program, rng, year = self.program("DA4.1"), self.rng, self.year
        if program is None:
            return 0
        adults = [(pk, h) for h in households for pk, _sex, born in self.members.get(h.pk, ())
                  if 18 <= year - born <= 45]
        chosen = rng.sample(adults, min(len(adults), rng.randint(15, 25)))
        starts = date(year, rng.randint(3, 6), rng.randint(1, 28))
        cost = len(chosen) * rng.choice([2_000_000, 2_200_000, 2_500_000])
        course = TrainingCourse.objects.create(commune=commune, program=program, trade=rng.choice(TRADES),
                                               starts_on=starts, ends_on=starts + timedelta(days=90), cost=cost,
                                               funding_source="central", created_by=officer)
        found = set(rng.sample([pk for pk, _h in chosen], len(chosen) * rng.randint(40, 70) // 100))
        CourseLearner.objects.bulk_create([CourseLearner(course=course, member_id=pk, found_work=pk in found)
                                           for pk, _h in chosen])
        for pk, household in chosen:
            self.give(household, "DA4.1", starts, "training", 0, "central", member_id=pk, course=course,
                      note=course.trade)
        return cost

    def project(self, commune, officer, poor: list[Household]) -> int:
        program, rng = self.program("DA3.1"), self.rng
        if program is None or not poor:
            return 0
        name, group = rng.choice(PROJECTS)
        budget = rng.randrange(200, 601, 50) * 1_000_000
        project = ProductionProject.objects.create(commune=commune, program=program, name=name, group_name=group,
                                                   year=self.year, budget=budget, funding_source="central",
                                                   created_by=officer)
        members = rng.sample(poor, min(len(poor), rng.randint(8, 15)))
        project.beneficiaries.add(*members)
        given = _months(rng, self.year, 4, 8)
        for household in members:
            self.give(household, "DA3.1", given, "in_kind", 0, "central", project=project, note=name)
        return budget

    def fair(self, commune, officer) -> None:
        rng = self.rng
        participants = rng.randint(80, 200)
        JobFair.objects.create(commune=commune, program=self.program("DA4.3"), name=f"Phiên giao dịch việc làm "
                               f"{commune.name}", held_on=_months(rng, self.year, 3, 10), participants=participants,
                               placements=participants * rng.randint(10, 30) // 100, created_by=officer)

    def works(self, commune, officer) -> int:
        """A few works of the year, at different stages; the estimated cost of those under way or done."""
        rng, spent = self.rng, 0
        program = self.program("DA1.1")
        for (name, category), status in zip(rng.sample(WORKS, 3), rng.sample(InfrastructureWork.Status.values, 3),
                                            strict=False):
            estimated = rng.randrange(5, 51) * 100_000_000
            actual = estimated * rng.randint(90, 102) // 100 if status == "done" else None
            InfrastructureWork.objects.create(commune=commune, program=program, name=name, category=category,
                                              status=status, year=self.year, estimated_cost=estimated,
                                              actual_cost=actual, funding_source="central", updated_by=officer)
            if status in ("building", "done"):
                spent += estimated
        return spent

    def casework(self, commune, officer, households: list[Household]) -> None:
        rng, year, today = self.rng, self.year, self.today
        helpers = Helper.objects.bulk_create([Helper(commune=commune, full_name=name, position=position,
                                                     organisation=org) for name, position, org in HELPERS])
        poor_now = [h for h in households if h.classification == "poor"]
        followed = [h for h in poor_now if rng.random() < 0.75]
        HelperAssignment.objects.bulk_create([
            HelperAssignment(helper=rng.choice(helpers), household=h, started_on=date(year, 1, 15), created_by=officer)
            for h in followed])
        helper_of = {a.household_id: a.helper for a in HelperAssignment.objects.filter(household__in=followed)
                     .select_related("helper")}
        visits = []
        for household in rng.sample(followed, len(followed) * 2 // 5):
            findings, follow_up = rng.choice(FINDINGS)
            visited = today - timedelta(days=rng.randint(5, 60))
            due = visited + timedelta(days=rng.randint(10, 45)) if follow_up else None
            done = due if due is not None and due < today and rng.random() < 0.5 else None
            visits.append(Visit(household=household, helper=helper_of.get(household.pk), visited_on=visited,
                                findings=findings, follow_up=follow_up, follow_up_due=due, follow_up_done_on=done,
                                recorded_by=officer))
        Visit.objects.bulk_create(visits)
        # Last year's registrations (made in February, resolved by that year's decision) and this year's.
        registrations = []
        for household in [h for h in households if self.before.get(h.pk) == "poor" and rng.random() < 0.15]:
            fix = rng.sample(self.deprived.get(household.pk, []), min(2, len(self.deprived.get(household.pk, []))))
            registrations.append(EscapeRegistration(
                household=household, registered_on=date(year, 2, rng.randint(1, 28)), target_year=year,
                category_at_registration="poor", indicators_to_fix=fix, target_income=rng.randrange(16, 21) * 100_000,
                support_asked="Vay vốn, hỗ trợ giống", helper=helper_of.get(household.pk), created_by=officer))
        for household in [h for h in poor_now if rng.random() < 0.08]:
            registrations.append(EscapeRegistration(
                household=household, registered_on=date(today.year, 2, rng.randint(1, 28)), target_year=today.year,
                category_at_registration="poor", indicators_to_fix=[], target_income=1_600_000,
                support_asked="Đào tạo nghề, vay vốn", helper=helper_of.get(household.pk), created_by=officer))
        EscapeRegistration.objects.bulk_create(registrations)
        self.result.registrations += len(registrations)
        # A few people with disability, and low-income worker applications among households off the lists.
        profiles = []
        for household in households:
            for pk, _sex, _born in self.members.get(household.pk, ()):
                disability = rng.random() < 0.02
                applied = (date(year, rng.randint(3, 9), 10) if household.classification in ("none", "middle")
                           and rng.random() < 0.01 else None)
                if disability or applied:
                    profiles.append(MemberProfile(member_id=pk, has_disability=disability,
                                                  low_income_applied_on=applied, updated_by=officer))
        MemberProfile.objects.bulk_create(profiles)

    def loans(self, created: list[Intervention], by_pk: dict[int, Household]) -> None:
        rng, year = self.rng, self.year
        lent = [s for s in created if s.kind == Intervention.Kind.LOAN]
        loans = Loan.objects.bulk_create([
            Loan(intervention=s, principal=s.amount, disbursed_on=s.given_on, term_months=rng.choice([36, 48, 60]),
                 purpose=s.note or "Sản xuất") for s in lent])
        balances = []
        for loan in loans:
            balances.append(LoanBalance(loan=loan, on=loan.disbursed_on, outstanding=loan.principal))
            owed = loan.principal
            for end in (date(year - 1, 12, 31), date(year, 12, 31)):
                if loan.disbursed_on < end - timedelta(days=180) and end <= self.today:
                    repaid = loan.principal * rng.randint(5, 20) // 100
                    repaid -= repaid % 100_000
                    owed -= repaid
                    balances.append(LoanBalance(loan=loan, on=end, repaid=repaid, outstanding=owed))
        LoanBalance.objects.bulk_create(balances, batch_size=2000)
        self.result.loans = len(loans)
