"""Benchmark: requests per load-generator CPU-second, sloguard's generators vs plain Locust.

Run:  .venv/bin/python -m tests.benchmarks.bench_loadgen  [--rate 200] [--seconds 30] [--users 20]

One run, side by side, every generator at the same fixed rate against the same endpoint
(POST /api/v1/gateway/authorize of the reference service on 127.0.0.1, started and stopped
here by pid):
- plain Locust: a minimal FastHttpUser posting one fixed body (the yardstick);
- loadgen/locustfile.py SARKUser under the plain `locust` command;
- `sloguard load run` (Locust mode: raw per-request rows, CSV, HTML, /metrics poller);
- `sloguard load run --open-loop` (the asyncio constant-arrival-rate generator).
Requests are counted by the service itself (sark_authz_requests_total), CPU is the whole
generator process tree's user+system time (getrusage of waited children), start-up included.

The reference service tops out at a few hundred decisions a second on a small machine, so a
second table runs the same generators at --stub-rate against a static-response ASGI endpoint
(uvicorn, same path and headers) where the generator, not the service, is the bottleneck.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import subprocess

from sloguard.load.procs import Target
from sloguard.load.service_metrics import scrape
from sloguard.load.workload import Identity, mint_token
from sloguard.processes import free_port, http_ok, stop_pid, wait_until

ROOT = Path(__file__).resolve().parents[2]
PLAIN = '''
from locust import FastHttpUser, constant_throughput, task

class Plain(FastHttpUser):
    wait_time = constant_throughput({per_user})

    @task
    def authorize(self):
        self.client.post("/api/v1/gateway/authorize", data={body!r},
                         headers={{"Authorization": "Bearer {token}", "Content-Type": "application/json"}})
'''
STUB = '''
COUNT = [0]
BODY = b'{"allow":true,"reason":"stub","filtered_parameters":{},"cache_ttl":60,"audit_id":"x"}'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/metrics":  # the count in the exposition format served() reads
        body = f'sark_authz_requests_total{{implementation="rust",decision="allow"}} {COUNT[0]}\\n'.encode()
        ctype = b"text/plain"
    else:
        COUNT[0] += scope["path"] == "/api/v1/gateway/authorize"
        body, ctype = BODY, b"application/json"
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", ctype), (b"content-length", str(len(body)).encode()),
        (b"x-sark-implementation", b"rust")]})
    await send({"type": "http.response.body", "body": body})
'''
BODY = (b'{"action":"gateway:tool:invoke","server_name":"postgres-mcp","tool_name":"list_tables",'
        b'"parameters":{"schema":"public"}}')


def served(url: str) -> float:
    decisions = scrape(url)
    if decisions is None:
        raise SystemExit(f"cannot read {url}/metrics")
    return sum(decisions.values())


def measure(name: str, argv: list[str], url: str, seconds: float) -> dict[str, float | str]:
    before_req = served(url)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds * 3 + 120, cwd=ROOT,
                            stdin=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed ({result.returncode}): {result.stderr[-2000:]}")
    time.sleep(0.5)
    requests = served(url) - before_req
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"generator": name, "requests": requests, "wall": wall, "cpu": cpu, "per_cpu": requests / cpu}


def generators(url: str, tmp: Path, rate: float, seconds: float, users: int) -> list[tuple[str, list[str]]]:
    py = sys.executable
    token = mint_token(Identity("bench-user", ("analyst",), "acme"))
    plain = tmp / "plain_locustfile.py"
    plain.write_text(PLAIN.format(per_user=rate / users, body=BODY, token=token))
    locust_common = ["--headless", "-u", str(users), "-r", str(users), "-t", f"{int(seconds)}s", "--host", url,
                     "--only-summary", "--loglevel", "WARNING"]  # fmt: skip
    # `load run` takes its users from --scale (the quick profile has 10); --rate fixes the total rate.
    load_run = [py, "-m", "sloguard", "load", "run", "quick", "--host", url, "--rate", str(rate), "--warmup", "0s",
                "--duration", f"{int(seconds)}s", "--no-progress", "--keep-rollout"]  # fmt: skip
    return [
        ("plain Locust FastHttpUser", [py, "-m", "locust", "-f", str(plain), *locust_common]),
        ("loadgen SARKUser (locust CLI)", [py, "-m", "locust", "-f", str(ROOT / "loadgen" / "locustfile.py"),
                                           *locust_common, "--user-rate", str(rate / users), "SARKUser"]),
        ("sloguard load run (Locust)", [*load_run, "--scale", str(users / 10), "--output-dir", str(tmp / "l")]),
        ("sloguard load run --open-loop", [*load_run, "--open-loop", "--output-dir", str(tmp / "o")]),
    ]  # fmt: skip


def table(title: str, rows: list[dict[str, float | str]]) -> None:
    base = float(rows[0]["per_cpu"])
    print(f"\n{title}\n")
    print(f"{'generator':34} {'requests':>9} {'req/wall-s':>11} {'CPU s':>7} {'req/CPU-s':>10} {'vs plain':>9}")
    for r in rows:
        print(f"{r['generator']:34} {r['requests']:9.0f} {float(r['requests']) / float(r['wall']):11.1f} "
              f"{r['cpu']:7.2f} {r['per_cpu']:10.0f} {float(r['per_cpu']) / base:8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="req/s against the reference service")
    parser.add_argument("--stub-rate", type=float, default=1000.0, help="req/s against the stub; 0 skips it")
    parser.add_argument("--seconds", type=float, default=30.0, help="steady seconds per generator")
    parser.add_argument("--users", type=int, default=20, help="Locust users (closed loop)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with Target.start(tmp / "target") as target:
            service_rows = []
            for name, argv in generators(target.url, tmp, args.rate, args.seconds, args.users):
                print(f"running {name} against the service ...", file=sys.stderr, flush=True)
                service_rows.append(measure(name, argv, target.url, args.seconds))
        stub_rows = []
        if args.stub_rate > 0:
            (tmp / "stub_app.py").write_text(STUB)
            port = free_port()
            stub = subprocess.Popen([sys.executable, "-m", "uvicorn", "stub_app:app", "--app-dir", str(tmp),
                                     "--port", str(port), "--host", "127.0.0.1", "--loop", "uvloop", "--http",
                                     "httptools", "--no-access-log", "--log-level", "warning"],
                                    stdin=subprocess.DEVNULL)  # fmt: skip
            try:
                url = f"http://127.0.0.1:{port}"
                if not wait_until(lambda: http_ok(f"{url}/health"), timeout=20):
                    raise SystemExit("the stub endpoint did not start")
                users = max(args.users, int(args.stub_rate / 20))
                for name, argv in generators(url, tmp, args.stub_rate, args.seconds, users):
                    print(f"running {name} against the stub ...", file=sys.stderr, flush=True)
                    stub_rows.append(measure(name, argv, url, args.seconds))
            finally:
                stop_pid(stub.pid)
    table(f"load generators at {args.rate:g} req/s for {args.seconds:g} s against the reference service's "
          "POST /api/v1/gateway/authorize (requests counted by the service; CPU of the generator process "
          "tree, start-up included)", service_rows)
    if stub_rows:
        table(f"the same at {args.stub_rate:g} req/s against a static-response endpoint (the generator is the "
              "bottleneck here, not SARK's service)", stub_rows)


if __name__ == "__main__":
    main()
