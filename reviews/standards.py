"""The poverty standards shipped with the application (reviews/data/standards.json).

`load_standards` creates a standard and its indicators when its code is new and
leaves an existing one as it is, so edits made in the admin (the provisional
2027–2030 standard is meant to be edited) survive a re-run. The data migration
calls it with the historical models.
"""

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "standards.json"


def load_standards(PovertyStandard, Indicator) -> int:  # noqa: N803 - model classes
    data = json.loads(DATA.read_text(encoding="utf-8"))
    created = 0
    for spec in data["standards"]:
        spec = dict(spec)
        indicators = data[spec.pop("indicators")]
        standard, was_created = PovertyStandard.objects.get_or_create(code=spec["code"], defaults=spec)
        if not was_created:
            continue
        created += 1
        Indicator.objects.bulk_create(
            Indicator(standard=standard, number=number, code=code, dimension=dimension, name=name, help_text=help_)
            for number, (code, dimension, name, help_) in enumerate(indicators, start=1)
        )
    return created
