"""Validates a Starling FHIR export with an independent FHIR library.

Usage: python validate.py BUNDLE.json

Parses the Bundle and every resource in it with the `fhir.resources` R4B
models (pydantic), which refuse unknown fields, wrong types and missing
required elements. Prints one line per resource type and the scores read
back from the Observations as JSON lines, for the Rust test to compare
with `starling show --json`.
"""
import importlib
import json
import sys
from collections import Counter

from fhir.resources.R4B.bundle import Bundle

text = open(sys.argv[1], encoding="utf-8").read()
bundle = Bundle.model_validate_json(text)
assert bundle.type == "collection", bundle.type
kinds = Counter()
scores = []
for entry in json.loads(text)["entry"]:
    raw = entry["resource"]
    kind = raw["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{kind.lower()}")
    resource = getattr(module, kind).model_validate(raw)
    kinds[kind] += 1
    if kind == "Observation":
        scores.append({
            "date": str(resource.effectiveDateTime),
            "area": resource.code.coding[0].code,
            "perspective": resource.method.coding[0].code,
            "value": resource.valueInteger,
        })
for kind, n in sorted(kinds.items()):
    print(f"resource {kind} {n}")
for s in scores:
    print("score " + json.dumps(s, sort_keys=True))
