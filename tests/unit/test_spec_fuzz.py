"""Fuzzing the spec loader: any input gives an SLOSet or a one-line SpecError, never another exception."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloguard.errors import SpecError
from sloguard.spec import SLOSet, load_spec_text

SOURCE = "fuzz.yaml"
SARK_TEXT = (Path(__file__).resolve().parents[2] / "sloguard.yaml").read_text(encoding="utf-8")
SARK_DATA: dict[str, Any] = yaml.safe_load(SARK_TEXT)
MESSAGE = re.compile(rf"^{re.escape(SOURCE)}:(\d+): \S")
# PyYAML counts these as line breaks, so a reported line can be at most one past their count.
BREAKS = re.compile("\r\n|[\n\r\x85\u2028\u2029]")

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(text: str) -> None:
    """The property: an SLOSet that respects the spec's rules, or a one-line SpecError with a real line."""
    try:
        slo_set = load_spec_text(text, SOURCE)
    except SpecError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, message
        assert message.isprintable(), message
        match = MESSAGE.match(message)
        assert match, message
        assert 1 <= int(match.group(1)) <= len(BREAKS.findall(text)) + 1, message
        assert "Input should be" not in message and "https://" not in message, message
        return
    assert isinstance(slo_set, SLOSet)
    names = [objective.name for objective in slo_set.objectives]
    assert names and len(names) == len(set(names))
    for objective in slo_set.objectives:
        assert objective.weight > 0
        assert objective.objective.min is not None or objective.objective.max is not None
        if objective.warning is not None:
            for side, stricter in (("max", min), ("min", max)):
                warn, limit = getattr(objective.warning, side), getattr(objective.objective, side)
                if warn is not None:
                    assert limit is not None and stricter(warn, limit) == warn


# ---- arbitrary YAML documents -----------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["sloguard/v1", "SLOSet", "fail", "1h", "x_total", 'x{a="b"}', "{{window}}", "latency"]),
)
keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["apiVersion", "kind", "metadata", "spec", "name", "service", "objectives", "sli", "objective", "warning",
         "min", "max", "by", "latency", "errorRatio", "metric", "quantile", "noData", "selector", "<<"]
    ),
    st.integers(min_value=-3, max_value=3),
    st.booleans(),
)  # fmt: skip
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@FUZZ
@given(documents)
def test_arbitrary_documents(data: Any) -> None:
    check(dump(data))


def mostly(valid: st.SearchStrategy[Any], *near_misses: Any) -> st.SearchStrategy[Any]:
    """Usually a valid value, sometimes a near miss or anything: deep enough to reach the cross-field rules."""
    wrong = st.sampled_from(near_misses) | documents if near_misses else documents
    # one_of picks branches near-uniformly whatever their repetition; middle values of a drawn
    # integer are rarer (hypothesis favours the ends of a range).
    return st.tuples(st.integers(0, 19), valid, wrong).map(lambda t: t[2] if t[0] in (9, 10) else t[1])


numbers = st.one_of(st.integers(0, 5000), st.floats(0, 1), st.sampled_from([0, 1, 0.5, 100]))
ratios = st.floats(0, 1)
bounds = st.one_of(
    st.fixed_dictionaries({"min": mostly(numbers, -1, 1e308)}),
    st.fixed_dictionaries({"max": mostly(numbers, -1, float("nan"))}),
    st.fixed_dictionaries({"min": mostly(numbers), "max": mostly(numbers)}),
)
ratio_bounds = st.one_of(
    st.fixed_dictionaries({"min": mostly(ratios, 99)}), st.fixed_dictionaries({"max": mostly(ratios, 1.5)})
)
metrics = mostly(st.sampled_from(["h", "h_seconds", "ns:h"]), "h_bucket", "h_count", 'h{a="b"}', "9h", "")
selectors = mostly(
    st.sampled_from(["r_total", 'r_total{a="b"}', "r{a=~'x|y',}", 'r{a="\\"q\\""}']),
    "r{a=b}",
    "{a='b'}",
    "r{",
    "sum(r)",
)
unit_interval = st.floats(0, 1, exclude_min=True, exclude_max=True)
slis = st.one_of(
    st.fixed_dictionaries(
        {"latency": st.fixed_dictionaries({"metric": metrics, "quantile": mostly(unit_interval, 1)})}
    ),
    st.fixed_dictionaries(
        {"latencyRatio": st.fixed_dictionaries({"metric": metrics, "threshold": mostly(numbers, 0)})}
    ),
    st.fixed_dictionaries({"errorRatio": st.fixed_dictionaries({"errors": selectors, "total": selectors})}),
    st.fixed_dictionaries({"throughput": st.fixed_dictionaries({"metric": selectors})}),
    st.fixed_dictionaries(
        {
            "memoryGrowth": st.fixed_dictionaries(
                {"metric": selectors},
                optional={"per": mostly(st.sampled_from(["1h", "90m", "500ms", "1w2d"]), "0s", "1h1h", "5", 60)},
            )
        }
    ),
    st.fixed_dictionaries(
        {"promql": st.fixed_dictionaries({"query": mostly(st.sampled_from(["up", "x[{{window}}]"]), "{{ w }}", " ")})}
    ),
)
names = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,6}\Z")
labels = st.sampled_from(["implementation", "decision", "job"])
objective_docs = st.fixed_dictionaries(
    {"name": mostly(names, "A", "-x", ""), "sli": mostly(slis, {}, {"rate": {}}), "objective": mostly(bounds, {})},
    optional={
        "warning": mostly(bounds),
        "by": mostly(st.lists(labels, max_size=2, unique=True), ["bad-l"], ["__n"], ["job", "job"]),
        "key": mostly(st.booleans(), 1),
        "weight": mostly(st.floats(0.1, 10), 0, -1),
        "minEvents": mostly(st.integers(0, 200), -1),
        "noData": mostly(st.sampled_from(["fail", "warn", "pass"]), "never"),
        "description": st.text(max_size=10),
    },
)
# Ratio SLIs with ratio bounds, so that warning-inside-objective comparisons happen often.
ratio_objective_docs = st.fixed_dictionaries(
    {
        "name": names,
        "sli": st.just({"errorRatio": {"errors": 'r{c="5"}', "total": "r"}}),
        "objective": ratio_bounds,
    },
    optional={"warning": ratio_bounds},
)
spec_docs = st.fixed_dictionaries(
    {
        "service": mostly(st.just("sark"), "", 1),
        "objectives": mostly(st.lists(objective_docs | ratio_objective_docs, min_size=1, max_size=4), []),
    },
    optional={
        "selector": mostly(st.dictionaries(labels, st.text(max_size=5), max_size=2), {"bad-l": "v"}),
        "noData": mostly(st.sampled_from(["fail", "warn", "pass"]), "never"),
        "minEvents": mostly(st.integers(0, 200), -1, 1.5),
        "scoring": mostly(
            st.fixed_dictionaries({"pass": st.floats(50, 100), "warning": st.floats(0, 50)}),
            {"pass": 10, "warning": 20},
            {"pass": 101, "warning": 0},
        ),
    },
)


@FUZZ
@given(spec_docs, mostly(st.fixed_dictionaries({"name": st.just("sark")})), st.booleans())
def test_spec_shaped_documents(spec: Any, metadata: Any, flow: bool) -> None:
    data = {"apiVersion": "sloguard/v1", "kind": "SLOSet", "metadata": metadata, "spec": spec}
    check(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=flow))


# ---- mutations of SARK's real spec ------------------------------------------------------------


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `node`."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


SARK_PATHS = [path for path in _paths(SARK_DATA) if path]


def _mutate(data: Any, path: tuple[Any, ...], action: str, value: Any) -> None:
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif action == "rename" and isinstance(parent, dict):
        parent[value if isinstance(value, str | int | bool) or value is None else str(value)] = parent.pop(last)
    elif action == "wrap":
        parent[last] = [parent[last]]
    elif action == "insert" and isinstance(parent, list):
        parent.insert(last, value)
    elif action == "insert" and isinstance(parent, dict):
        parent[str(value)[:10]] = value


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(SARK_PATHS),
            st.sampled_from(["delete", "replace", "rename", "wrap", "insert"]),
            documents,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_structural_mutations_of_the_sark_spec(mutations: list[tuple[tuple[Any, ...], str, Any]]) -> None:
    data = copy.deepcopy(SARK_DATA)
    for path, action, value in mutations:
        try:
            _mutate(data, path, action, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped this path
    check(dump(data))


yaml_ish = st.text(
    alphabet=st.sampled_from(list(":{}[],-#&*!|>'\"%@`?\\ \t\n\r") + list("ab0.") + ["\x00", "\ufeff", "\u2028", "é"]),
    max_size=12,
)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(SARK_TEXT)), st.integers(0, 20), yaml_ish | st.text(max_size=8)
        ),
        min_size=1,
        max_size=4,
    )
)
def test_text_mutations_of_the_sark_spec(edits: list[tuple[int, int, str]]) -> None:
    text = SARK_TEXT
    for position, cut, insert in edits:
        position = min(position, len(text))
        text = text[:position] + insert + text[position + cut :]
    check(text)


@FUZZ
@given(st.data())
def test_line_level_mutations_of_the_sark_spec(data: st.DataObject) -> None:
    lines = SARK_TEXT.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["drop", "duplicate", "indent", "dedent", "swap"]))
        if action == "drop" and len(lines) > 1:
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif action == "indent":
            lines[index] = "  " + lines[index]
        elif action == "dedent":
            lines[index] = lines[index][2:] if lines[index].startswith("  ") else lines[index]
        elif action == "swap" and index + 1 < len(lines):
            lines[index], lines[index + 1] = lines[index + 1], lines[index]
    check("".join(lines))


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_random_bytes_and_text(raw: bytes | str) -> None:
    check(raw.decode("latin-1") if isinstance(raw, bytes) else raw)
