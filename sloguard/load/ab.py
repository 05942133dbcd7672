"""`sloguard load ab`: one profile against a control and an experiment build at once, interleaved.

Two runs of one build recorded one after the other differ by more than sampling
noise on a shared machine (medians 13-20 % apart here), so a sequential A/B
comparison mostly measures the machine. Here one open-loop process sends the
profile's rate to each side, the sides taking turns, so whatever the machine does
in a second it does to both. And two processes of one build differ too (by a few
per cent here: hash seeds, memory layout, where the scheduler puts them), so each
side may be served by several replicas; the side's rate is split evenly over them.
Each side is written as an ordinary run directory (run.json, latencies.csv with a
`target` column, timeline.csv) that records its peer; `sloguard compare` pairs the
two runs' time blocks and allows for the replicas' spread.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sloguard import runs
from sloguard.demo.tokens import admin_token_from_env
from sloguard.errors import UsageError
from sloguard.load.openloop import OpenLoopGenerator, Phase, run_interleaved
from sloguard.load.profiles import Profile
from sloguard.load.progress import Progress
from sloguard.load.recorder import Counts
from sloguard.load.run import SERVICE_POLL_SECONDS, profile_rollout, run_document
from sloguard.load.service_metrics import MetricsPoller
from sloguard.load.target import require_healthy
from sloguard.load.workload import WORKLOADS, http_source
from sloguard.runs import AB_ROLES


@dataclass
class ABOptions:
    profile: Profile
    targets: dict[str, list[str]]  # role (control, experiment) -> base URLs of its replicas
    output_dir: Path
    scale: float = 1.0
    admin_token: str | None = None
    keep_rollout: bool = False
    token_secret: str | None = None
    progress: bool = True


def check_targets(targets: dict[str, list[str]]) -> int:
    """The number of replicas per side; both sides need the same number, and no URL twice."""
    if set(targets) != set(AB_ROLES) or not all(targets.values()):
        raise UsageError(f"give at least one URL for each of: {', '.join(AB_ROLES)}")
    replicas = {len(urls) for urls in targets.values()}
    if len(replicas) != 1:
        raise UsageError("give as many --experiment URLs as --control URLs (replicas are compared side for side)")
    urls = [u for role in AB_ROLES for u in targets[role]]
    if len(set(urls)) != len(urls):
        raise UsageError("a URL is given twice: an A/B run needs a separate service process per replica and side "
                         "(start the same build twice for an A/A check)")
    return replicas.pop()


def run_ab(options: ABOptions) -> dict[str, dict[str, Any]]:
    """Run the profile against both sides; writes OUTPUT/control and OUTPUT/experiment, returns their run.json."""
    profile = options.profile
    replicas = check_targets(options.targets)
    for role in AB_ROLES:
        for url in options.targets[role]:
            require_healthy(url)
    token = admin_token_from_env(options.admin_token)
    dirs = {role: options.output_dir / role for role in AB_ROLES}
    for directory in dirs.values():
        directory.mkdir(parents=True, exist_ok=True)
    # Generators in the order the schedule visits them: control 1, experiment 1, control 2, ...
    slots = [(role, url) for pair in zip(*(options.targets[r] for r in AB_ROLES), strict=True)
             for role, url in zip(AB_ROLES, pair, strict=True)]  # fmt: skip
    rollouts = {url: profile_rollout(url, profile.rollout, token, options.keep_rollout) for _, url in slots}
    pollers = {url: MetricsPoller(url, interval=SERVICE_POLL_SECONDS).start() for _, url in slots}
    progress = Progress(f"load ab {profile.name} ({options.targets['control'][0]})",
                        profile.warmup + profile.duration, enabled=options.progress)  # fmt: skip
    writers = {role: runs.LatencyWriter(dirs[role] / runs.LATENCIES_CSV, extra_columns=(runs.TARGET_COLUMN,))
               for role in AB_ROLES}  # fmt: skip
    generators = [
        # Each replica draws its own request stream (independent seeds): with one shared stream the
        # side that asks first would fill the shared Redis and the other would always hit it.
        OpenLoopGenerator(url, http_source(WORKLOADS[profile.user_class](secret=options.token_secret),
                                           urlsplit(url).netloc),
                          max_in_flight=profile.max_in_flight, timeout=profile.timeout,
                          writer=runs.TaggedWriter(writers[role], url), progress=progress if k == 0 else None)
        for k, (role, url) in enumerate(slots)
    ]  # fmt: skip
    rate = profile.rate / replicas
    phases = [p for p in (Phase("warmup", rate, profile.warmup, measured=False),
                          Phase("steady", rate, profile.duration)) if p.duration > 0]  # fmt: skip
    cpu0 = time.process_time()
    try:
        results = run_interleaved(generators, phases)
    finally:
        for writer in writers.values():
            writer.close()
        progress.close()
        for poller in pollers.values():
            poller.stop()
    cpu = time.process_time() - cpu0
    pair_id = uuid.uuid4().hex[:12]
    docs: dict[str, dict[str, Any]] = {}
    for role in AB_ROLES:
        mine = [(g, r, url) for g, r, (side, url) in zip(generators, results, slots, strict=True) if side == role]
        counts = Counts()
        for _, result, _ in mine:
            counts.merge(result.steady_counts())
        windows = [w for _, r, _ in mine if (w := r.window()) is not None]
        window = (min(w[0] for w in windows), max(w[1] for w in windows)) if windows else (time.time(),) * 2
        first, first_result, _ = mine[0]
        runs.write_timeline(dirs[role] / runs.TIMELINE_CSV, first_result.timeline, first.offset + first._t0)
        steady = [p for _, r, _ in mine for p in r.measured()]
        peer = next(r for r in AB_ROLES if r != role)
        urls = options.targets[role]
        info = {
            "max_in_flight": profile.max_in_flight, "timeout": profile.timeout,
            "max_send_lag_seconds": round(max((p.max_send_lag for p in steady), default=0.0), 6),
            "connect_errors": sum(g.connect_errors for g, _, _ in mine),
            "cpu_seconds_both_sides": round(cpu, 3),
        }  # fmt: skip
        doc = run_document(
            profile=profile, scale=options.scale, target=urls[0], mode="open-loop interleaved", workers=0,
            window=window, interrupted=any(r.interrupted for _, r, _ in mine), counts=counts,
            rollout=rollouts[urls[0]], service=_sum_decisions([pollers[u].delta(*window) for u in urls]),
            generator=info, files={"latencies": runs.LATENCIES_CSV},
        )  # fmt: skip
        # `sloguard compare` reads this to pair the two runs' time blocks and to count the replicas.
        marks = runs.Interleaved(pair_id, role, f"../{peer}", tuple(urls), tuple(options.targets[peer]))
        docs[role] = runs.write_run(dirs[role], dataclasses.replace(doc, interleaved=marks))
    return docs


def _sum_decisions(deltas: list[dict[str, dict[str, int]] | None]) -> dict[str, dict[str, int]] | None:
    """The replicas' decision counts added up (None when a replica's /metrics could not be read)."""
    if any(d is None for d in deltas):
        return None
    total: dict[str, dict[str, int]] = {}
    for delta in deltas:
        assert delta is not None
        for impl, by_decision in delta.items():
            for decision, n in by_decision.items():
                total.setdefault(impl, {})[decision] = total.get(impl, {}).get(decision, 0) + n
    return total
