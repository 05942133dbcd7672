"""What every importer shares: reading YAML documents, checking their values, writing the sloguard spec.

Every problem is a UsageError of one line that names the file and, in a file of several
documents, the document's number; the spec written is validated by the v1 loader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from sloguard.conventions import API_VERSION, SPEC_KIND
from sloguard.errors import UsageError
from sloguard.numbers import format_number
from sloguard.spec.loader import load_spec_text


@dataclass(frozen=True)
class ImportedSpec:
    """One service's sloguard/v1 spec, as YAML text, and what the import could not keep exactly."""

    service: str
    text: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Document:
    """One YAML mapping of the input and how messages name it ("in.yaml" or "in.yaml: document 2")."""

    data: dict[str, Any]
    where: str


def read_documents(text: str, source: str) -> list[Document]:
    """The non-empty YAML documents of `text`; each must be a mapping."""
    try:
        loaded = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise UsageError(one_line(f"{source}: invalid YAML: {exc}")) from None
    several = sum(doc is not None for doc in loaded) > 1
    docs = []
    for number, data in enumerate(loaded, start=1):
        if data is None:
            continue
        where = f"{source}: document {number}" if several else source
        if not isinstance(data, dict):
            raise UsageError(f"{where}: expected a YAML mapping, got {type(data).__name__}")
        docs.append(Document(data, where))
    if not docs:
        raise UsageError(f"{source}: no YAML document to import")
    return docs


def one_line(message: str) -> str:
    return " ".join(message.split())


# ---- checked values ---------------------------------------------------------------------------


def mapping(value: Any, where: str) -> dict[str, Any]:
    """A mapping (absent: empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def sequence(value: Any, where: str) -> list[Any]:
    """A list (absent: empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise UsageError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def text(value: Any, where: str, *, required: bool = False) -> str:
    """A string; numbers are taken as written (YAML reads `tier: 2` as a number)."""
    if value is None:
        if required:
            raise UsageError(f"{where}: is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UsageError(f"{where}: expected a string, got {type(value).__name__}")
    out = value if isinstance(value, str) else format_number(value)
    if required and not out.strip():
        raise UsageError(f"{where}: must not be empty")
    return out


def string_map(value: Any, where: str) -> dict[str, str]:
    """A mapping of names to strings, e.g. labels or annotations.

    An unquoted scalar (`generated: true`, `tier: 2`) is the string it spells, as Sloth's YAML
    reader makes it (a string field takes any scalar): true, 2, 0.5.
    """
    return {str(key): text(_scalar_text(item), f"{where}.{key}") for key, item in mapping(value, where).items()}


def _scalar_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    return value


def number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{where}: expected a number, got {type(value).__name__}")
    return float(value)


def flag(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise UsageError(f"{where}: expected true or false, got {type(value).__name__}")
    return value


def warn_unknown(data: dict[str, Any], known: tuple[str, ...], where: str, warnings: list[str]) -> None:
    """A warning per key the format does not define: ignored, as the format's own tools ignore it."""
    for key in data:
        if key not in known:
            warnings.append(f"{where}: unknown key {key!r} ignored")


# ---- the sloguard spec written ----------------------------------------------------------------


def objective_name(name: str) -> str:
    """A sloguard objective name: lowercase letters, digits and '-'."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "objective"


def budget(ratio_good: float) -> float:
    """The share of bad events allowed when `ratio_good` must be good, printed cleanly (1 - 0.999 = 0.001)."""
    return float(format_number(1 - ratio_good))


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (descriptions) as literal blocks; no anchors; everything else as safe_dump writes it."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value.strip("\n") and not value.endswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_documents(docs: list[dict[str, Any]]) -> str:
    """YAML documents as importers and exporters write them; `---` between several."""
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100000,
                         explicit_start=len(docs) > 1)


def spec_text(name: str, service: str, objectives: list[dict[str, Any]], *, header: str,
              labels: dict[str, str] | None = None, source: str) -> str:
    """The sloguard/v1 document as YAML text; the v1 loader checks it (SpecError if a mapping went wrong)."""
    if not objectives:
        raise UsageError(f"{source}: no SLO found to import")
    doc = {
        "apiVersion": API_VERSION,
        "kind": SPEC_KIND,
        "metadata": {"name": name, **({"labels": labels} if labels else {})},
        "spec": {"service": service, "objectives": objectives},
    }
    out = f"# {header}\n{dump_documents([doc])}"
    load_spec_text(out, source=f"{source} (imported)")
    return out
