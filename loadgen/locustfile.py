"""SARK authorization load for Locust: users calling POST /api/v1/gateway/authorize with bearer tokens.

Run through `sloguard load run PROFILE` (profiles.yaml, run.json, raw latencies), or
with plain Locust:

    locust -f loadgen/locustfile.py --headless --host http://127.0.0.1:8000 \\
        -u 20 -r 10 -t 1m --user-rate 5 SARKUser

The request mixes live in sloguard.load.workload, so the open-loop generator
(`sloguard load run --open-loop`) sends exactly the same traffic.
"""

from __future__ import annotations

import logging
import random
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser, events, task
from locust.user.wait_time import constant_pacing

from sloguard.conventions import AUTHORIZE_PATH, ENV_DEMO_SECRET
from sloguard.load import locust_support
from sloguard.load.workload import (
    Call,
    ComplexWorkload,
    MixedWorkload,
    RepeatedWorkload,
    UniqueWorkload,
    Workload,
)

log = logging.getLogger("sloguard.loadgen")


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    # Custom options travel from the master to every worker with each spawn message.
    parser.add_argument("--user-rate", type=float, default=0.0,
                        help="Requests per second per user (constant throughput); 0: as fast as answers come.")
    parser.add_argument("--token-secret", default=None, env_var=ENV_DEMO_SECRET,
                        help="HS256 key of the service's bearer tokens (default: the demo's dev key).")
    parser.add_argument("--token-users", type=int, default=200, help="Distinct callers (one token each).")


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    locust_support.attach(environment)


@events.test_start.add_listener
def _check_target(environment: Any, **_: Any) -> None:
    # Without this, a down target shows up as a run full of connection errors.
    problem = locust_support.check_target(environment)
    if problem:
        log.error("aborting: %s", problem)
        environment.process_exit_code = 2
        gevent.spawn(environment.runner.quit)  # not from inside the runner greenlet it kills


@events.test_stop.add_listener
def _flush(**_: Any) -> None:
    locust_support.flush()


events.request.add_listener(locust_support.on_request)


def _user_rate_wait(user: SarkUser) -> float:
    """constant_throughput(--user-rate) when set; otherwise no wait (closed loop at full speed)."""
    options = user.environment.parsed_options
    rate = float(getattr(options, "user_rate", 0.0) or 0.0)
    return constant_pacing(1.0 / rate)(user) if rate > 0 else 0.0


class SarkUser(FastHttpUser):
    """Base of the SARK users: a shared workload per class, one POST per task."""

    abstract = True
    workload_class: ClassVar[type[Workload]]
    workload: Any  # the subclass's workload; one instance per class and process (tokens minted once)
    wait_time = _user_rate_wait
    _workloads: ClassVar[dict[type[Workload], Workload]] = {}

    def on_start(self) -> None:
        cls = type(self).workload_class
        workload = SarkUser._workloads.get(cls)
        if workload is None:
            options = self.environment.parsed_options
            workload = SarkUser._workloads[cls] = cls(
                secret=getattr(options, "token_secret", None),
                users=int(getattr(options, "token_users", 200) or 200),
            )
        self.workload = workload
        rate = float(getattr(self.environment.parsed_options, "user_rate", 0.0) or 0.0)
        if rate > 0:
            # Users spawned 1/spawn_rate apart would otherwise pace in lockstep and fire in bursts.
            gevent.sleep(random.uniform(0.0, 1.0 / rate))

    def authorize(self, call: Call) -> None:
        self.client.post(
            AUTHORIZE_PATH,
            data=call.body,
            headers={"Authorization": f"Bearer {call.token}", "Content-Type": "application/json"},
            name=f"authorize [{call.kind}]",
            context={"kind": call.kind},
        )


class SARKUser(SarkUser):
    """Mixed traffic: 60 % read-like, 30 % write-like, 10 % admin calls."""

    workload_class = MixedWorkload

    @task(MixedWorkload.weights["read"])
    def read(self) -> None:
        self.authorize(self.workload.read())

    @task(MixedWorkload.weights["write"])
    def write(self) -> None:
        self.authorize(self.workload.write())

    @task(MixedWorkload.weights["admin"])
    def admin(self) -> None:
        self.authorize(self.workload.admin())


class ReadHeavyUser(SarkUser):
    """A dozen repeated reads: nearly every decision comes from a cache."""

    workload_class = RepeatedWorkload

    @task
    def repeat(self) -> None:
        self.authorize(self.workload.repeat())


class CacheMissUser(SarkUser):
    """Every request unique: every decision is evaluated by the policy engine."""

    workload_class = UniqueWorkload

    @task
    def unique(self) -> None:
        self.authorize(self.workload.unique())


class ComplexPolicyUser(SarkUser):
    """Multi-tenant, multi-role callers with kilobytes of nested parameters."""

    workload_class = ComplexWorkload

    @task
    def complex(self) -> None:
        self.authorize(self.workload.complex())
