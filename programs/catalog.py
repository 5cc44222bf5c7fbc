"""The support programs shipped with the application (programs/data/programs.json).

`load_programs` creates each national program whose code is new and leaves an
existing one as it is, so edits made in the admin survive a re-run. The data
migration calls it with the historical model; the demo and tests call it again
when a flushed database lost the rows.
"""

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "programs.json"
FIELDS = ("name", "kind", "legal_basis", "start_year", "end_year", "funding_sources", "target_groups",
          "indicators", "addresses_income", "cap_new_house", "cap_house_repair", "cap_per_course",
          "cap_per_intervention", "support_rule", "note")


def load_programs(Program) -> int:  # noqa: N803 - a model class
    data = json.loads(DATA.read_text(encoding="utf-8"))
    created = 0
    by_code = {}
    for spec in data["programs"]:
        defaults = {name: spec[name] for name in FIELDS if name in spec}
        parent_code = spec.get("parent")
        if parent_code:
            defaults["parent"] = by_code[parent_code]
        program, was_created = Program.objects.get_or_create(code=spec["code"], province=None, defaults=defaults)
        by_code[spec["code"]] = program
        created += was_created
    return created
