"""Sloth's own examples through sloguard: are the generated rules the ones Sloth generated?

Run:  .venv/bin/python -m tests.benchmarks.sloth_examples --sloth PATH/TO/sloth

Reads a Sloth checkout (a work tree, or a bare repository read with `git show HEAD:`): each
example in examples/ that has generated rules in examples/_gen/ is imported with `sloguard
import` and its rules generated with the default windows; the recorded rules (name and label
set) and the alerts (name, labels, annotations, whether they have `for`) are compared with
Sloth's. Sloth ran with `--extra-labels cmd=examplesgen.sh`, so that label is ignored, and the
values of sloth_mode, sloth_spec and sloth_version, which name sloguard on purpose (docs/sloth.md).
Plugin examples are refused by the importer and reported as such. Nothing of Sloth's is copied.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

if __package__ in (None, ""):  # run as a script: make `sloguard` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sloguard import importers, rules
from sloguard.errors import SloguardError
from sloguard.spec.loader import load_spec_text
from sloguard.spec.windows import windows_for

OWN_INFO_VALUES = ("sloth_mode", "sloth_spec", "sloth_version")
EXTRA_LABEL = "cmd"

Rules = tuple[set[tuple[str, tuple[tuple[str, str], ...]]], list[tuple[Any, ...]]]


def reader(sloth: Path) -> Any:
    """A function reading a file of the checkout, whether it is a work tree or a bare repository."""
    if (sloth / "examples").is_dir():
        return lambda path: (sloth / path).read_text(encoding="utf-8")
    return lambda path: subprocess.run(["git", "-C", str(sloth), "show", f"HEAD:{path}"], capture_output=True,
                                       text=True, check=True).stdout


def examples(sloth: Path) -> list[str]:
    if (sloth / "examples" / "_gen").is_dir():
        return sorted(p.name for p in (sloth / "examples" / "_gen").iterdir())
    listing = subprocess.run(["git", "-C", str(sloth), "ls-tree", "--name-only", "HEAD", "examples/_gen/"],
                             capture_output=True, text=True, check=True).stdout
    return sorted(Path(line).name for line in listing.split())


def comparable(groups: list[dict[str, Any]]) -> Rules:
    records, alerts = set(), []
    for group in groups:
        for rule in group["rules"]:
            labels = {k: str(v) for k, v in (rule.get("labels") or {}).items() if k != EXTRA_LABEL}
            labels.update({k: "<sloguard's own>" for k in OWN_INFO_VALUES if k in labels})
            if "record" in rule:
                records.add((rule["record"], tuple(sorted(labels.items()))))
            else:
                alerts.append((rule["alert"], tuple(sorted(labels.items())),
                               tuple(sorted((rule.get("annotations") or {}).items())), "for" in rule))
    return records, sorted(alerts)


def sloguard_groups(name: str, text: str) -> list[dict[str, Any]]:
    imported = [importers.import_openslo(text, name)] if "apiVersion: openslo/" in text else \
        importers.import_sloth(text, name)
    groups = []
    for spec in imported:
        slo_set = load_spec_text(spec.text, name)
        rule_set = rules.generate(slo_set, windows_for(slo_set, None))
        groups += [{"rules": [rule.to_yaml() for rule in group.rules]} for group in rule_set.groups]
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sloth", type=Path, required=True, help="a Sloth checkout or bare repository")
    args = parser.parse_args()
    read = reader(args.sloth)
    print(f"{'example':36} {'records':>9} {'alerts':>7}  verdict")
    for generated in examples(args.sloth):
        name = generated.rsplit(".", 1)[0]
        spec_file = next((f"examples/{name}.{ext}" for ext in ("yml", "yaml")
                          if _exists(read, f"examples/{name}.{ext}")), None)
        if spec_file is None:
            continue
        docs = [doc for doc in yaml.safe_load_all(read(f"examples/_gen/{generated}")) if doc]
        theirs = comparable([g for doc in docs for g in (doc.get("groups") or doc.get("spec", {}).get("groups", []))])
        try:
            ours = comparable(sloguard_groups(name, read(spec_file)))
        except SloguardError as exc:
            print(f"{name:36} {'':>9} {'':>7}  refused: {exc}")
            continue
        verdict = "identical" if ours == theirs else "DIFFERENT"
        print(f"{name:36} {len(ours[0]):>4}/{len(theirs[0]):<4} {len(ours[1]):>3}/{len(theirs[1]):<3}  {verdict}")
    return 0


def _exists(read: Any, path: str) -> bool:
    try:
        read(path)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


if __name__ == "__main__":
    raise SystemExit(main())
