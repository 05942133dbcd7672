"""The performance report's content: sections built only from the runs given.

Structure (what SARK's report was meant to have): executive summary, methodology and
environment, policy engine, cache, end-to-end, load, stress, memory, bottlenecks,
recommendations. A section with no data says so and names the command that produces it.
Charts are built here as inline SVG; the Markdown points to them in the HTML report.
"""

from __future__ import annotations

import math
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sloguard import __version__
from sloguard.compare import CompareSettings, MetricComparison, compare_samples
from sloguard.conventions import (
    AUTHZ_DURATION,
    AUTHZ_REQUESTS,
    CACHE_DURATION,
    IMPL_PYTHON,
    IMPL_RUST,
    OPA_DURATION,
    PROCESS_RSS,
)
from sloguard.durations import iso
from sloguard.report import svg
from sloguard.report.perfdata import (
    LoadRun,
    RunData,
    Series,
    cdf_series,
    is_error,
    memory_fit,
    percentile_series,
    rate_series,
)
from sloguard.report.perfdoc import Block, Chart, Para, Report, Section, Table
from sloguard.stats import quantile

SECTIONS = (
    "Executive summary", "Methodology and environment", "Policy engine", "Cache", "End-to-end", "Load",
    "Stress", "Memory", "Bottlenecks", "Recommendations",
)  # fmt: skip
CHARTS = ("latency-percentiles", "latency-cdf", "throughput", "error-ratio", "memory", "error-budget")
# With `sloguard report --rollout DIR`, also "rollout-timeline" (report/rollout.py).


# ---- formatting ---------------------------------------------------------------------------------


def ms(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    return f"{seconds * 1000:.3f} ms"


def pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value * 100:.{digits}f}%"


def num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:,.{digits}f}"


def size(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(value) >= scale:
            return f"{value / scale:,.2f} {unit}"
    return f"{value:,.0f} B"


def objective_value(obj: dict[str, Any]) -> str:
    value, sli = obj.get("value"), obj.get("sli", "")
    if value is None:
        return "no data"
    if sli == "latency":
        return ms(value)
    if sli in ("latencyratio", "errorratio"):
        return pct(value, 3)
    if sli == "throughput":
        return f"{num(value)} req/s"
    if sli == "memorygrowth":
        return f"{size(value)}/h"
    return f"{value:.6g}"


def objective_bound(obj: dict[str, Any]) -> str:
    bound = obj.get("objective") or {}
    fake = dict(obj)
    parts = []
    for key, sign in (("min", "≥"), ("max", "≤")):
        if key in bound:
            fake["value"] = bound[key]
            parts.append(f"{sign} {objective_value(fake)}")
    return ", ".join(parts) or "-"


def objective_interval(obj: dict[str, Any]) -> str:
    """The value's confidence interval from the check report ("-" without one; an open end is ∞)."""
    interval = obj.get("interval") or {}
    if not interval:
        return "-"
    ends = [objective_value({**obj, "value": v}) if v is not None else "∞" for v in (interval["low"], interval["high"])]
    return " – ".join(ends)


def _metric_of(obj: dict[str, Any]) -> str:
    query = str(obj.get("query") or "")
    for metric in (OPA_DURATION, CACHE_DURATION, AUTHZ_DURATION, AUTHZ_REQUESTS, PROCESS_RSS):
        if metric in query:
            return metric
    return ""


def objectives(data: RunData, metrics: Sequence[str]) -> list[tuple[Path, dict[str, Any]]]:
    return [(path, o) for path, doc in data.checks for o in doc.get("objectives", []) if _metric_of(o) in metrics]


def objective_table(items: list[tuple[Path, dict[str, Any]]], multi: bool) -> Table:
    headers = (["check"] if multi else []) + ["objective", "group", "value", "95 % CI", "objective bound", "status"]
    rows = [([str(p.name)] if multi else []) + [o["name"], o.get("group") or "-", objective_value(o),
                                                 objective_interval(o), objective_bound(o), _status(o)]
            for p, o in items]  # fmt: skip
    return Table(headers, rows)


def _status(obj: dict[str, Any]) -> str:
    return str(obj.get("status", "-")) + (", within noise" if obj.get("withinNoise") else "")


def objectives_with(data: RunData, metrics: Sequence[str], heading: str) -> list[Block]:
    """A heading and the table of the check reports' objectives on `metrics`; nothing when there are none."""
    items = objectives(data, metrics)
    return [Para(heading), objective_table(items, len(data.checks) > 1)] if items else []


def _q(values: Any, q: float) -> float:
    """The same order-statistic quantile `sloguard compare` uses, so tables and comparisons agree."""
    import numpy as np  # only a report with latencies needs it

    return quantile(np.sort(values), q)


def no_data(what: str, how: str) -> Para:
    return Para(f"**No data:** {what}. {how}")


# ---- the comparison of the two paths in a load run -------------------------------------------


@dataclass
class PathComparison:
    run: LoadRun
    metric: MetricComparison  # python = control, rust = experiment


def path_comparisons(data: RunData) -> list[PathComparison]:
    out = []
    for run in data.loads:
        lat = run.latencies
        if lat is None or not {IMPL_RUST, IMPL_PYTHON} <= set(lat.implementations):
            continue
        out.append(PathComparison(run, compare_samples("latency", lat.of(IMPL_PYTHON), lat.of(IMPL_RUST))))
    return out


def speed_sentence(pc: PathComparison) -> str:
    m = pc.metric
    parts = []
    for row in m.rows:
        if row.ratio is None:
            parts.append(f"{row.statistic}: {row.verdict.value} ({row.reason})")
            continue
        speedup = 1 / row.ratio
        ci = (f" (99% CI {1 / row.ci_high:.2f}×–{1 / row.ci_low:.2f}×)"
              if row.ci_low and row.ci_high else "")  # fmt: skip
        parts.append(f"{row.statistic} {ms(row.experiment)} vs {ms(row.control)}: Rust {speedup:.2f}× "
                     f"{'faster' if speedup >= 1 else 'as fast'}{ci}, {row.verdict.value}")
    tests = ""
    if m.p_value is not None:
        tests = (f" Mann-Whitney p = {m.p_value:.3g}; Hodges-Lehmann shift {ms(m.hl_shift)} "
                 f"({m.hl_relative:+.1%} typical relative change)." if m.hl_relative is not None else "")
    return f"Run {pc.run.name}: Rust vs Python client-measured latency, " + "; ".join(parts) + "." + tests


# ---- sections -----------------------------------------------------------------------------------


def build(data: RunData, extra: Sequence[Section] = ()) -> Report:
    """The report of the runs; `extra` sections (e.g. a rollout's) go before the recommendations."""
    comparisons = path_comparisons(data)
    sections = [
        executive_summary(data, comparisons), methodology(data), component(data, "Policy engine", OPA_DURATION),
        component(data, "Cache", CACHE_DURATION), end_to_end(data, comparisons), load_section(data),
        stress_section(data), memory_section(data), bottlenecks(data, comparisons), *extra,
        recommendations(data, comparisons),
    ]  # fmt: skip
    names = ", ".join(str(r) for r in data.roots)
    return Report(f"SARK authorization performance report ({names})",
                  datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), sections)


def executive_summary(data: RunData, comparisons: list[PathComparison]) -> Section:
    s = Section("Executive summary")
    bullets = []
    for path, doc in data.checks:
        objs = doc.get("objectives", [])
        counts = {k: sum(1 for o in objs if o.get("status") == k)
                  for k in ("pass", "warn", "fail", "no_data", "inconclusive")}
        noisy = sum(1 for o in objs if o.get("withinNoise"))
        w = doc.get("window") or {}
        bullets.append(f"SLO check ({path.name}): **{str(doc.get('verdict', '?')).upper()}**, score "
                       f"{doc.get('score')}, {len(objs)} objectives: {counts['pass']} pass, {counts['warn']} warn, "
                       f"{counts['fail']} fail, {counts['no_data']} no data"
                       + (f", {counts['inconclusive']} inconclusive" if counts["inconclusive"] else "")
                       + (f" ({noisy} within noise of a bound)" if noisy else "")
                       + f"; window {w.get('start')} → {w.get('end')}.")
    for pc in comparisons:
        bullets.append(speed_sentence(pc))
    for run in data.loads:
        d = run.doc
        bullets.append(f"Load {run.name}: {num(d.rate.get('achieved'))} req/s achieved of "
                       f"{num(d.rate.get('requested'))} requested, error ratio {pct(d.errors.get('ratio'), 3)}.")
    for path, doc in data.stress:
        if "steps" in doc:
            bullets.append(f"Stress ({path.name}): sustainable {num(doc.get('sustainable_rate'), 0)} req/s, breaking "
                           f"point {num(doc.get('breaking_rate'), 0) if doc.get('breaking_rate') else 'not reached'}.")
        for sc in doc.get("recovery", []):
            took = num(sc.get("recovery_seconds"), 2) + " s" if sc.get("recovered") else "did not recover"
            bullets.append(f"Recovery after a {sc.get('dependency')} outage: {took}.")
    for mem in data.memory:
        g = (mem.doc or {}).get("memory") or {}
        if g:
            bullets.append(f"Memory ({mem.path.name}): RSS growth {size(g.get('growth_bytes_per_hour'))}/h over "
                           f"{num(g.get('span_seconds'), 0)} s, verdict {g.get('verdict')}.")
    if not bullets:
        bullets.append("The runs given hold no load run, check report, stress or soak result.")
    s.add(Para("\n".join(f"- {b}" for b in bullets)))
    s.add(error_budget_chart(data))
    if not data.stress:
        s.add(Para("Not covered by the runs given: stress (breaking point, recovery)."))
    if not data.memory:
        s.add(Para("Not covered by the runs given: memory over time (soak)."))
    return s


def error_budget_chart(data: RunData) -> Chart:
    labels, values = [], []
    for _, o in objectives(data, (AUTHZ_DURATION, AUTHZ_REQUESTS)):
        bound, value, sli = o.get("objective") or {}, o.get("value"), o.get("sli")
        if value is None:
            continue
        if sli == "errorratio" and bound.get("max"):
            consumed = value / bound["max"]
        elif sli == "latencyratio" and "min" in bound and bound["min"] < 1:
            consumed = (1 - value) / (1 - bound["min"])
        else:
            continue
        labels.append(f"{o['name']} {o.get('group') or ''}".strip())
        values.append(consumed * 100)
    title = "Error budget consumed over the check window (% of the budget; 100 = exhausted)"
    body = (svg.bar_chart(labels, values, title=title, x_label="% of error budget consumed", limit=100.0)
            if labels else svg.no_data(title, "no errorRatio/latencyRatio objective in a check report"))
    return Chart("error-budget", title, body)


def methodology(data: RunData) -> Section:
    s = Section("Methodology and environment")
    cpu = _cpu_model()
    s.add(Para(f"Report generated by sloguard {__version__} on {platform.platform()}, Python "
               f"{sys.version.split()[0]}, {os.cpu_count()} CPUs{f' ({cpu})' if cpu else ''}. Runs record no host "
               "identity: if they were made elsewhere, this describes the reporting machine only."))
    if data.loads:
        rows = []
        for run in data.loads:
            d = run.doc
            rows.append([run.name, d.mode or "-", _iso(d.window.start if d.window else None),
                         num(d.steady_seconds, 0), num(d.rate.get("requested"), 0), num(d.rate.get("achieved")),
                         str(d.requests.get("completed", "-")), num(d.rollout.get("observed_percent_rust"), 1)])
        s.add(Table(["run", "mode", "window start", "seconds", "requested req/s", "achieved req/s",
                     "completed", "% on Rust"], rows))
        s.add(Para("Latencies are client-measured per request: in open-loop runs from the intended send time (so "
                   "queueing delay counts, no coordinated omission), in Locust runs from the send. Only the "
                   "steady-state window is kept. Error ratio counts transport errors and HTTP 5xx."))
    else:
        s.add(no_data("no load run (run.json)", "Produce one with `sloguard load run PROFILE --host URL`."))
    cs = CompareSettings()
    s.add(Para(f"Rust vs Python statistics (sloguard compare): quantiles as order statistics, ratio intervals by "
               f"a seeded bootstrap ({cs.resamples} replicates, {100 * (1 - cs.alpha):g}% percentile intervals), "
               f"Mann-Whitney U (two-sided), Hodges-Lehmann shift; fewer than {cs.min_samples} requests per side "
               "is inconclusive. Server-side values (policy engine, cache, SLOs) come from `sloguard check` "
               "(Prometheus histograms of the reference service over the same window)."))
    if data.checks:
        s.add(Table(["check report", "spec", "prometheus", "window", "verdict"],
                    [[p.name, str((d.get("spec") or {}).get("name")), str(d.get("prometheus")),
                      f"{(d.get('window') or {}).get('start')} → {(d.get('window') or {}).get('end')}",
                      str(d.get("verdict"))] for p, d in data.checks]))
    return s


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _iso(value: Any) -> str:
    """RFC 3339, as every time sloguard prints."""
    try:
        return iso(float(value))
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


def component(data: RunData, title: str, metric: str) -> Section:
    s = Section(title)
    items = objectives(data, (metric,))
    if not items:
        s.add(no_data(f"no check report with an objective on `{metric}`",
                      "Run `sloguard check --run RUN/run.json --format json` (or `sloguard demo`)."))
        return s
    s.add(Para(f"Server-side `{metric}` from Prometheus over the check window."))
    s.add(objective_table(items, len(data.checks) > 1))
    by_group = {o.get("group"): o for _, o in items if o.get("sli") == "latency" and o.get("value")}
    rust, python = by_group.get(f"implementation={IMPL_RUST}"), by_group.get(f"implementation={IMPL_PYTHON}")
    if rust and python:
        ratio = python["value"] / rust["value"]
        s.add(Para(f"{rust['name']}: Python {ms(python['value'])} vs Rust {ms(rust['value'])}, Rust {ratio:.2f}× "
                   "lower (a bare ratio of two histogram quantiles; bucket resolution limits it, no interval)."))
    return s


def end_to_end(data: RunData, comparisons: list[PathComparison]) -> Section:
    s = Section("End-to-end")
    runs = [r for r in data.loads if r.latencies is not None]
    if not runs:
        s.add(no_data("no per-request latencies (latencies.csv)", "`sloguard load run` writes them."))
    for run in runs:
        lat = run.latencies
        assert lat is not None

        rows = []
        for impl in lat.implementations:
            v = lat.of(impl)
            rows.append([impl, str(len(v)), ms(_q(v, 0.5)), ms(_q(v, 0.95)), ms(_q(v, 0.99)), ms(float(v.max())),
                         ms(float(v.mean()))])
        s.add(Para(f"Run {run.name}: client-measured latency per implementation."))
        s.add(Table(["implementation", "requests", "p50", "p95", "p99", "max", "mean"], rows))
        s.add(Chart("latency-percentiles", f"Latency percentiles over time, {run.name} (ms; solid p50, dashed p95)",
                    svg.line_chart(percentile_series(lat), x_label="seconds since the window opened",
                                   y_label="latency (ms)", title="latency percentiles", log_y=True)))
        s.add(Chart("latency-cdf", f"Latency CDF per implementation, {run.name}",
                    svg.line_chart(cdf_series(lat), x_label="latency (ms, log scale)", y_label="fraction of requests",
                                   title="latency CDF", log_x=True, y_min=0.0, y_max=1.0)))
    for pc in comparisons:
        m = pc.metric
        rows = [[r.statistic, ms(r.control), ms(r.experiment), num(r.ratio, 3),
                 f"[{r.ci_low:.3f}, {r.ci_high:.3f}]" if r.ci_low is not None and r.ci_high is not None else "-",
                 r.verdict.value] for r in m.rows]  # fmt: skip
        s.add(Para(f"Rust (experiment) vs Python (control), run {pc.run.name}: n = {m.n_experiment} / {m.n_control}."))
        s.add(Table(["statistic", "python", "rust", "ratio rust/python", "99% CI", "verdict"], rows))
        s.add(Para(speed_sentence(pc)))
    s.add(*objectives_with(data, (AUTHZ_DURATION,), "Server-side end-to-end objectives:"))
    return s


def load_section(data: RunData) -> Section:
    s = Section("Load")
    if not data.loads:
        s.add(no_data("no load run (run.json)", "Run `sloguard load run PROFILE --host URL`."))
        return s
    rows = []
    for run in data.loads:
        d = run.doc
        req, err, gen, rate = d.requests, d.errors, d.generator, d.rate
        rows.append([run.name, num(rate.get("requested"), 0), num(rate.get("achieved")),
                     str(req.get("completed", "-")), str(err.get("total", "-")), pct(err.get("ratio"), 3),
                     str(req.get("dropped", "-")), ms(gen.get("max_send_lag_seconds"))])
    s.add(Table(["run", "requested req/s", "achieved req/s", "completed", "errors", "error ratio", "dropped",
                 "max send lag"], rows))
    for run in data.loads:
        if run.latencies is None:
            continue
        throughput, errors = rate_series(run.latencies)
        s.add(Chart("throughput", f"Throughput over time, {run.name} (completed requests per second)",
                    svg.line_chart(throughput, x_label="seconds since the window opened", y_label="req/s",
                                   title="throughput")))
        n_err = int(is_error(run.latencies.status).sum())
        s.add(Chart("error-ratio", f"Error ratio over time, {run.name} ({n_err} errors in the window)",
                    svg.line_chart(errors, x_label="seconds since the window opened", y_label="error ratio",
                                   title="error ratio", y_min=0.0, y_max=max(0.01, max(errors[0].y, default=0)))))
    s.add(*objectives_with(data, (AUTHZ_REQUESTS,), "Throughput and error-rate objectives:"))
    return s


def stress_section(data: RunData) -> Section:
    s = Section("Stress")
    if not data.stress:
        s.add(no_data("no stress result (stress.json)", "Run `sloguard stress --host URL` for the breaking point and "
                      "`sloguard stress --recovery redis,policy-server` for recovery times."))
        return s
    for path, doc in data.stress:
        if "steps" in doc:
            b = doc.get("bounds") or {}
            broke = f"{num(doc.get('breaking_rate'), 0)} req/s" if doc.get("breaking_rate") else "not reached"
            why = f" ({'; '.join(doc['breaking_reasons'])})" if doc.get("breaking_reasons") else ""
            s.add(Para(f"{path.name}: offered rate stepped up until p95 > {ms(b.get('p95_seconds'))} or error ratio > "
                       f"{pct(b.get('error_ratio'))}. Sustainable: {num(doc.get('sustainable_rate'), 0)} req/s; "
                       f"breaking point: {broke}{why}."))
            steps = doc.get("steps") or []
            s.add(Table(["offered req/s", "achieved req/s", "p50", "p95", "error ratio", "held"],
                        [[num(st.get("rate"), 0), num(st.get("achieved_rate")), ms(st.get("p50_seconds")),
                          ms(st.get("p95_seconds")), pct(st.get("error_ratio"), 3),
                          "yes" if st.get("held") else "no: " + "; ".join(st.get("reasons") or [])] for st in steps]))
            rates = [float(st.get("rate") or 0) for st in steps]
            p95s = [(st.get("p95_seconds") or math.nan) * 1000 for st in steps]
            p50s = [(st.get("p50_seconds") or math.nan) * 1000 for st in steps]
            s.add(Chart("stress", "p50 and p95 latency vs offered rate",
                        svg.line_chart([Series("p95", rates, p95s), Series("p50", rates, p50s, dashed=True)],
                                       x_label="offered req/s", y_label="latency (ms)", title="stress", log_y=True)))
        if doc.get("recovery"):
            s.add(Para(f"{path.name}: dependencies stopped and restarted under {num(doc.get('rate'), 0)} req/s."))
            s.add(Table(["dependency", "outage error ratio", "restart healthy after", "recovered", "recovery time"],
                        [[str(sc.get("dependency")), pct(sc.get("outage_error_ratio"), 2),
                          f"{num(sc.get('restart_healthy_seconds'), 2)} s", "yes" if sc.get("recovered") else "no",
                          f"{num(sc.get('recovery_seconds'), 2)} s" if sc.get("recovered") else "-"]
                         for sc in doc["recovery"]]))
    return s


def memory_section(data: RunData) -> Section:
    s = Section("Memory")
    items = objectives(data, (PROCESS_RSS,))
    if not data.memory and not items:
        s.add(no_data("no soak result (soak.json, rss.csv) and no memory-growth objective",
                      "Run `sloguard soak --host URL --duration 10m --sample 5s`."))
        s.add(Chart("memory", "RSS over time", svg.no_data("RSS over time", "no rss.csv in the runs given")))
        return s
    for mem in data.memory:
        g = (mem.doc or {}).get("memory") or {}
        if g:
            s.add(Para(f"{mem.path.name}: {g.get('samples')} RSS samples over {num(g.get('span_seconds'), 0)} s; "
                       f"fitted growth {size(g.get('growth_bytes_per_hour'))}/h (R² {g.get('r_squared')}), "
                       f"bound {size(g.get('bound_bytes_per_hour'))}/h: **{g.get('verdict')}**; RSS "
                       f"{size(g.get('rss_start_bytes'))} → {size(g.get('rss_end_bytes'))}."))
        fit = memory_fit(mem)
        if fit:
            t0 = mem.times[0]
            xs = [t - t0 for t in mem.times]
            series = [Series("RSS (MiB)", xs, [r / (1 << 20) for r in mem.rss]),
                      Series(f"fit {size(fit[0] * 3600)}/h", [xs[0], xs[-1]],
                             [(fit[1] + fit[0] * x) / (1 << 20) for x in (xs[0], xs[-1])], dashed=True)]
            s.add(Chart("memory", f"RSS over time with the fitted growth line, {mem.path.name}",
                        svg.line_chart(series, x_label="seconds", y_label="RSS (MiB)", title="memory",
                                       y_min=min(mem.rss) / (1 << 20) * 0.995,
                                       y_max=max(mem.rss) / (1 << 20) * 1.005)))
        else:
            s.add(Chart("memory", "RSS over time", svg.no_data("RSS over time", f"fewer than 3 samples in {mem.path}")))
    if items:
        if not data.memory:
            s.add(no_data("no RSS samples over time (soak.json, rss.csv)",
                          "Run `sloguard soak --host URL --duration 10m --sample 5s` for the growth line."))
        s.add(Para("Memory-growth objective (Prometheus `deriv` over the check window):"))
        s.add(objective_table(items, len(data.checks) > 1))
        if not data.memory:
            s.add(Chart("memory", "RSS over time", svg.no_data("RSS over time", "no rss.csv in the runs given")))
    return s


def bottlenecks(data: RunData, comparisons: list[PathComparison]) -> Section:
    s = Section("Bottlenecks")
    items = []
    for pc in comparisons:
        p95 = next((r for r in pc.metric.rows if r.statistic == "p95"), None)
        if p95 and p95.ratio and p95.control is not None and p95.experiment is not None:  # a ratio has both
            slower = IMPL_PYTHON if p95.ratio < 1 else IMPL_RUST
            items.append(f"{pc.run.name}: the {slower} path has the higher p95 ({ms(max(p95.control, p95.experiment))} "
                         f"vs {ms(min(p95.control, p95.experiment))}; Rust vs Python: {p95.verdict.value}).")
    for run in data.loads:
        if run.latencies is None:
            continue

        for impl in run.latencies.implementations:
            v = run.latencies.of(impl)
            p50, p99 = _q(v, 0.5), _q(v, 0.99)
            if p50 > 0 and p99 / p50 >= 3:
                items.append(f"{run.name}: long tail on {impl}: p99 {ms(p99)} is {p99 / p50:.1f}× the median "
                             f"{ms(p50)} (queueing or pauses, not the typical request).")
        rate = run.doc.rate
        if rate.get("requested") and rate.get("achieved") and rate["achieved"] < 0.95 * rate["requested"]:
            items.append(f"{run.name}: only {num(rate['achieved'])} of {num(rate['requested'])} req/s were sent: "
                         "the load generator or the service saturated.")
    opa = {o.get("group"): o.get("value") for _, o in objectives(data, (OPA_DURATION,)) if o.get("value")}
    for run in data.loads:
        if run.latencies is None:
            continue

        for impl in run.latencies.implementations:
            server = opa.get(f"implementation={impl}")
            if server:
                client = _q(run.latencies.of(impl), 0.95)
                items.append(f"{run.name}, {impl}: policy evaluation p95 {ms(server)} against an end-to-end p95 of "
                             f"{ms(client)} ({server / client:.0%}); the rest is HTTP, cache, routing and queueing.")
    for _, o in [(p, o) for p, d in data.checks for o in d.get("objectives", [])]:
        if o.get("status") in ("fail", "warn"):
            label = f"{o['name']} {o.get('group') or ''}".strip()
            if _offered_below(o, data) is not None:
                label += " (the load offered less than the objective: not a service limit)"
            items.append(f"Objective {label}: {objective_value(o)} against "
                         f"{objective_bound(o)} ({o.get('status')}).")
    for path, doc in data.stress:
        if doc.get("breaking_reasons"):
            items.append(f"Stress ({path.name}) broke at {num(doc.get('breaking_rate'), 0)} req/s: "
                         + "; ".join(doc["breaking_reasons"]) + ".")
    if not items:
        s.add(Para("No bottleneck shows in the data given."))
    else:
        s.add(Para("\n".join(f"- {i}" for i in items)))
    return s


def _offered_below(o: dict[str, Any], data: RunData) -> float | None:
    """The offered rate when a throughput objective failed only because the load asked for less."""
    bound = (o.get("objective") or {}).get("min")
    offered = [float(r.doc.rate.get("requested") or 0) for r in data.loads]
    if o.get("sli") == "throughput" and bound and offered and max(offered) < bound:
        return max(offered)
    return None


def recommendations(data: RunData, comparisons: list[PathComparison]) -> Section:
    s = Section("Recommendations")
    recs = []
    failing = [o for _, d in data.checks for o in d.get("objectives", []) if o.get("status") == "fail"]
    rust_failing = [o for o in failing if (o.get("group") or "").endswith(f"={IMPL_RUST}")]
    for pc in comparisons:
        rows = {r.statistic: r for r in pc.metric.rows}
        observed = pc.run.doc.rollout.get("observed_percent_rust")
        all_faster = all(r.verdict.value == "faster" for r in rows.values())
        if all_faster and not rust_failing:
            recs.append(f"Raise the Rust rollout beyond the {num(observed, 0)}% of this run: Rust is faster at the "
                        f"median and p95 with 99% confidence ({speed_sentence(pc).split(': ', 1)[1]}) and no Rust "
                        "objective failed. Re-check at each step with `sloguard check --baseline`.")
        elif all_faster:
            names = ", ".join(sorted({o["name"] for o in rust_failing}))
            recs.append(f"Rust is faster than Python at the median and p95 in {pc.run.name} (99% confidence), but "
                        f"Rust objectives fail ({names}): fix those before raising the rollout beyond "
                        f"{num(observed, 0)}%.")
        elif any(r.verdict.value == "slower" for r in rows.values()):
            recs.append(f"Hold the Rust rollout: in {pc.run.name} Rust is slower on "
                        f"{', '.join(k for k, r in rows.items() if r.verdict.value == 'slower')}.")
        else:
            recs.append(f"{pc.run.name}: the Rust/Python difference is not established; run longer (the `baseline` "
                        "profile) before deciding the rollout.")
    for o in failing:
        offered = _offered_below(o, data)
        if offered is not None:
            recs.append(f"Throughput was judged on a run that offered only {num(offered, 0)} req/s against an "
                        f"objective of {objective_bound(o)}: run the `target` profile to test it.")
            continue
        recs.append(f"Fix {(o['name'] + ' ' + (o.get('group') or '')).strip()}: {objective_value(o)} against "
                    f"{objective_bound(o)}.")
    if not data.checks:
        recs.append("Run `sloguard check --run RUN/run.json --format json` so the report can show server-side SLOs.")
    if not data.stress:
        recs.append("Find the breaking point and recovery times with `sloguard stress` (no stress data here).")
    if not data.memory:
        recs.append("Run `sloguard soak` to measure memory growth over time (no soak data here).")
    short = [r for r in data.loads if (r.doc.steady_seconds or 0) < 300]
    if short:
        recs.append(f"{', '.join(r.name for r in short)} measured under 5 minutes: gate releases on the `baseline` "
                    "profile (5 min), the run length sloguard compare's calibration is stated for.")
    s.add(Para("\n".join(f"- {r}" for r in recs) if recs else "No recommendation follows from the data given."))
    return s
