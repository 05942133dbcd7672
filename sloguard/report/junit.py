"""JUnit XML: one testcase per objective and group, so CI systems show each SLO as a test."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from sloguard.evaluate import CheckResult, Status
from sloguard.files import write_text_atomic
from sloguard.report.format import format_bound, format_interval, format_level, format_value, status_text

FILENAME = "sloguard-junit.xml"
# Statuses that judge nothing: a failure or a skip as the noData policy counts them.
_NOT_JUDGED = {Status.NO_DATA: "no data", Status.INCONCLUSIVE: "inconclusive"}


def render(result: CheckResult) -> str:
    slo = result.slo_set
    cases = []
    failures = skipped = 0
    for v in result.verdicts:
        name = f"{v.objective.name}[{v.group}]" if v.group else v.objective.name
        case = ET.Element("testcase", classname=f"sloguard.{slo.name}", name=name, time="0")
        status = status_text(v)
        interval = ""
        if v.interval is not None and "CI" not in status:  # a status within noise names the interval itself
            interval = f" ({format_level(v.interval)} {format_interval(v.objective, v.interval)})"
        detail = (
            f"{v.objective.name} {v.group or ''}: value {format_value(v.objective, v.value)}{interval}, "
            f"objective {format_bound(v.objective, v.objective.objective)}: {status}. {v.reason}\n"
            f"query: {v.queries.value}"
        )
        if v.counts_as is Status.FAIL:
            failures += 1
            kind = _NOT_JUDGED.get(v.status, "objective failed")
            ET.SubElement(case, "failure", message=kind, type=v.status.value).text = detail
        elif v.status in _NOT_JUDGED:
            skipped += 1
            ET.SubElement(case, "skipped", message=_NOT_JUDGED[v.status]).text = detail
        else:
            ET.SubElement(case, "system-out").text = f"{v.status.value}: {detail}"
        cases.append(case)
    suite = ET.Element(
        "testsuite",
        name=f"sloguard.{slo.name}",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{result.window.seconds:.3f}",
    )
    suite.extend(cases)
    suites = ET.Element("testsuites", name="sloguard")
    suites.append(suite)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write(result: CheckResult, directory: Path) -> Path:
    path = directory / FILENAME
    write_text_atomic(path, render(result))
    return path
