"""Support records for the shared world: one of each model in a household's commune (the role matrix)."""

from datetime import date

from programs.catalog import load_programs
from programs.models import (
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

SUPPORT_MODELS = {"program", "intervention", "loan", "trainingcourse", "jobfair", "productionproject",
                  "infrastructurework", "budgetallocation", "memberprofile", "helper", "helperassignment", "visit",
                  "escaperegistration"}


def program(code: str) -> Program:
    if not Program.objects.filter(code=code).exists():
        load_programs(Program)  # a transactional test's flush may have removed the migration's rows
    return Program.objects.get(code=code, province__isnull=True)


def support_object(model: str, household):
    """The record of `model` belonging to `household` (or its commune), made on first use."""
    commune, member = household.commune, household.members.first()
    if model == "program":
        return program("DA5")
    if model == "intervention":
        return Intervention.objects.get_or_create(household=household, program=program("DA5"), defaults={
            "given_on": date(2025, 5, 1), "kind": "cash", "amount": 40_000_000, "funding_source": "central",
            "status": "delivered", "house_work": "new"})[0]
    if model == "loan":
        loan = Loan.objects.filter(intervention__household=household).first()
        if loan is None:
            lent = Intervention.objects.create(household=household, program=program("NHCS-HN"),
                                               given_on=date(2024, 3, 1), kind="loan", amount=50_000_000,
                                               funding_source="credit", status="delivered")
            loan = Loan.objects.create(intervention=lent, principal=50_000_000, disbursed_on=date(2024, 3, 1),
                                       term_months=60, purpose="Mua bò")
            LoanBalance.objects.create(loan=loan, on=date(2024, 3, 1), outstanding=50_000_000)
        return loan
    if model == "trainingcourse":
        course, created = TrainingCourse.objects.get_or_create(commune=commune, trade="Trồng nấm", defaults={
            "program": program("DA4.1"), "starts_on": date(2025, 3, 1), "ends_on": date(2025, 4, 1),
            "cost": 30_000_000, "funding_source": "central"})
        if created:
            CourseLearner.objects.create(course=course, member=member)
        return course
    if model == "jobfair":
        return JobFair.objects.get_or_create(commune=commune, name="Phiên giao dịch việc làm", defaults={
            "held_on": date(2025, 4, 1), "participants": 120, "placements": 30})[0]
    if model == "productionproject":
        project, created = ProductionProject.objects.get_or_create(commune=commune, name="Nuôi bò sinh sản", defaults={
            "program": program("DA3.1"), "group_name": "Tổ hợp tác chăn nuôi", "year": 2025, "budget": 300_000_000,
            "funding_source": "central"})
        if created:
            project.beneficiaries.add(household)
        return project
    if model == "infrastructurework":
        return InfrastructureWork.objects.get_or_create(commune=commune, name="Đường bê tông thôn", defaults={
            "category": "roads", "year": 2025, "estimated_cost": 1_500_000_000, "funding_source": "central"})[0]
    if model == "budgetallocation":
        return BudgetAllocation.objects.get_or_create(commune=commune, program=program("DA5"), year=2025,
                                                      funding_source="central", defaults={"allocated": 80_000_000})[0]
    if model == "memberprofile":
        return MemberProfile.objects.get_or_create(member=member, defaults={"has_disability": True})[0]
    if model == "helper":
        return Helper.objects.get_or_create(commune=commune, full_name="Vàng Seo Sử",
                                            defaults={"position": "party_member"})[0]
    if model == "helperassignment":
        return HelperAssignment.objects.get_or_create(household=household, ended_on=None, defaults={
            "helper": support_object("helper", household), "started_on": date(2025, 1, 1)})[0]
    if model == "visit":
        return Visit.objects.get_or_create(household=household, visited_on=date(2025, 6, 1), defaults={
            "findings": "Nhà dột", "follow_up": "Sửa mái", "follow_up_due": date(2025, 7, 1)})[0]
    if model == "escaperegistration":
        return EscapeRegistration.objects.get_or_create(household=household, target_year=2026, defaults={
            "registered_on": date(2025, 12, 20), "category_at_registration": "poor",
            "indicators_to_fix": ["latrine"]})[0]
    raise AssertionError(f"no support object for {model}")
