"""The rollout plan (apiVersion sloguard/v1, kind RolloutPlan): its YAML models, its loader and its internal model.

The pydantic models mirror the YAML (camelCase keys, unknown keys rejected) and stay in this module;
`load_plan` turns a validated file into the frozen `RolloutPlan` everything else uses. Errors are the
spec loader's: one line, `FILE:LINE: field.path: message`.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from sloguard import conventions as c
from sloguard.durations import parse_duration
from sloguard.errors import SpecError
from sloguard.numbers import format_number
from sloguard.spec.fields import Duration, FieldError, NonEmptyStr, ObjectiveName, show
from sloguard.spec.loader import load_document, read_document_text
from sloguard.spec.v1 import check_api_version, check_kind

# ---- the internal model -----------------------------------------------------------------------


class RollbackTo(StrEnum):
    ZERO = "zero"  # every flag of the current pass back to 0 %
    PREVIOUS = "previous"  # the percent of the step before the failed one (0 % from the first step)


@dataclass(frozen=True)
class Step:
    """One step: the Rust path's percent, and how long and on how many events per path it is watched."""

    percent: float
    min_duration_seconds: float  # 0 on the last (100 %) step: reaching it completes the pass
    min_events: int  # per implementation, over the step's window; 0 on the last step


@dataclass(frozen=True)
class CompareCriteria:
    """Rust against Python in the same window; `alpha` bounds false rollbacks over every look of a step."""

    error_ratio_margin: float  # Rust's error ratio may exceed Python's by this much (0.001 = 0.1 point)
    latency_quantile: float
    latency_margin: float  # Rust's quantile may be up to Python's × (1 + margin)
    alpha: float


@dataclass(frozen=True)
class OnFailure:
    """What a failed gate or a conclusive harm does before the controller holds."""

    rollback_to: RollbackTo


@dataclass(frozen=True)
class AdminApiSetting:
    """Set the flags through the reference service's admin API; the bearer token is read from `token_env`."""

    url: str
    token_env: str


@dataclass(frozen=True)
class CommandSetting:
    """Set a flag by running `argv` with {flag} and {percent} filled in (no shell)."""

    argv: tuple[str, ...]


# How a plan sets its flags: exactly one of the two (the plan file's flagSetter).
FlagSetting = AdminApiSetting | CommandSetting


@dataclass(frozen=True)
class RolloutPlan:
    """A validated plan file: the flags, their steps, the gates and comparison, what failure does, the setter."""

    name: str
    source: str  # the plan file, as messages name it
    spec_path: Path  # the SLO spec gating each step, resolved against the plan file's directory
    flags: tuple[str, ...]
    together: bool
    interval_seconds: float
    steps: tuple[Step, ...]
    compare: CompareCriteria
    on_failure: OnFailure
    flag_setter: FlagSetting

    def flag_passes(self) -> tuple[tuple[str, ...], ...]:
        """The flags each pass through the steps moves: all at once when together, else one flag per pass."""
        return (self.flags,) if self.together else tuple((flag,) for flag in self.flags)

    def rollback_percent(self, step_index: int) -> float:
        """The percent a failure at steps[step_index] sets the current pass's flags to."""
        if self.on_failure.rollback_to is RollbackTo.PREVIOUS and step_index > 0:
            return self.steps[step_index - 1].percent
        return 0.0


# ---- the YAML models --------------------------------------------------------------------------


def _flag(value: str) -> str:
    if value not in c.FEATURE_FLAGS:
        raise ValueError(f"unknown flag {show(value)}; SARK's flags are {', '.join(c.FEATURE_FLAGS)}")
    return value


def _env_name(value: str) -> str:
    if not value or not (value[0].isalpha() or value[0] == "_") or not all(ch.isalnum() or ch == "_" for ch in value):
        raise ValueError(f"{show(value)} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// URL such as {c.ROLLOUT_DEFAULT_ADMIN_URL}, got {show(value)}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"is the service's base URL without a path, got {show(value)}")
    return value


_PLACEHOLDERS = ("flag", "percent")


def _command_arg(value: str) -> str:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError:
        raise ValueError(f"{show(value)}: unbalanced brace; write {{{{ or }}}} for a literal one") from None
    for name in names:
        if name not in _PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}}; the placeholders are {{flag}} and {{percent}}")
    return value


FlagName = Annotated[str, AfterValidator(_flag)]
EnvName = Annotated[str, AfterValidator(_env_name)]
BaseUrl = Annotated[str, AfterValidator(_base_url)]
CommandArg = Annotated[str, AfterValidator(_command_arg)]


class _Model(BaseModel):
    # As spec.v1's models: strict (YAML types its scalars, so "5" is not a number), unknown keys rejected.
    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel, allow_inf_nan=False, frozen=True)


class _Metadata(_Model):
    name: ObjectiveName


class _Step(_Model):
    percent: Annotated[float, Field(gt=0, le=c.ROLLOUT_FULL_PERCENT)]
    min_duration: Duration | None = None
    min_events: Annotated[int, Field(ge=1)] | None = None


class _ErrorRatio(_Model):
    margin: Annotated[float, Field(ge=0, lt=1)] = c.ROLLOUT_DEFAULT_ERROR_MARGIN


class _Latency(_Model):
    quantile: Annotated[float, Field(gt=0, lt=1)] = c.ROLLOUT_DEFAULT_LATENCY_QUANTILE
    margin: Annotated[float, Field(ge=0)] = c.ROLLOUT_DEFAULT_LATENCY_MARGIN


class _Compare(_Model):
    error_ratio: _ErrorRatio = Field(default_factory=_ErrorRatio)
    latency: _Latency = Field(default_factory=_Latency)
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = c.ROLLOUT_DEFAULT_ALPHA


class _OnFailure(_Model):
    rollback_to: Literal["zero", "previous"] = "zero"


class _AdminApi(_Model):
    url: BaseUrl = c.ROLLOUT_DEFAULT_ADMIN_URL
    token_env: EnvName = c.ROLLOUT_DEFAULT_TOKEN_ENV


class _FlagSetter(_Model):
    admin_api: _AdminApi | None = None
    command: list[CommandArg] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> _FlagSetter:
        if self.admin_api is None and self.command is None:
            raise ValueError("set exactly one of adminApi or command")
        if self.admin_api is not None and self.command is not None:
            raise FieldError(("command",), "adminApi is already set; a plan has exactly one flag setter")
        if self.command is not None and not self.command:
            raise FieldError(("command",), "must list the program and its arguments")
        if self.command is not None and not any("{percent}" in arg for arg in self.command):
            raise FieldError(("command",), "must pass {percent}: without it the command cannot know what to set")
        return self


class _PlanSpec(_Model):
    spec: NonEmptyStr
    flags: list[FlagName]
    together: bool = True
    interval: Duration = c.ROLLOUT_DEFAULT_INTERVAL
    steps: list[_Step]
    compare: _Compare = Field(default_factory=_Compare)
    on_failure: _OnFailure = Field(default_factory=_OnFailure)
    # No flagSetter: the reference service's admin API at its defaults.
    flag_setter: _FlagSetter = Field(default_factory=lambda: _FlagSetter.model_validate({"adminApi": {}}))

    @model_validator(mode="after")
    def _flags_once(self) -> _PlanSpec:
        if not self.flags:
            raise FieldError(("flags",), "must list at least one flag")
        for index, flag in enumerate(self.flags):
            if flag in self.flags[:index]:
                raise FieldError(("flags", index), f"{show(flag)} is listed twice")
        command = self.flag_setter.command
        if command is not None and len(self.flags) > 1 and not any("{flag}" in arg for arg in command):
            raise FieldError(("flagSetter", "command"), "must pass {flag}: the plan moves more than one flag")
        return self

    @model_validator(mode="after")
    def _steps_climb_to_100(self) -> _PlanSpec:
        if not self.steps:
            raise FieldError(("steps",), "must list at least one step, the last at 100")
        interval = parse_duration(self.interval)
        last = len(self.steps) - 1
        for index, step in enumerate(self.steps):
            if index and step.percent <= self.steps[index - 1].percent:
                raise FieldError(("steps", index, "percent"), "must be greater than the step before "
                                 f"({format_number(self.steps[index - 1].percent)}): steps only go up")
            if step.percent == c.ROLLOUT_FULL_PERCENT:
                if index != last:
                    raise FieldError(("steps", index, "percent"), "100 ends the plan; no step can follow it")
                for key, value in (("minDuration", step.min_duration), ("minEvents", step.min_events)):
                    if value is not None:
                        raise FieldError(("steps", index, key), "the 100 % step ends the plan: no Python traffic "
                                         "is left to compare against, so it takes no minDuration or minEvents")
                continue
            if index == last:
                raise FieldError(("steps", index, "percent"),
                                 "the last step must be 100: a plan ends with the Rust path taking all of the traffic")
            for key, value in (("minDuration", step.min_duration), ("minEvents", step.min_events)):
                if value is None:
                    raise FieldError(("steps", index, key), "is required on a step below 100 %: it says when "
                                     "the step has been watched long enough to promote")
            if step.min_duration is not None and parse_duration(step.min_duration) < interval:
                raise FieldError(("steps", index, "minDuration"),
                                 f"must be at least spec.interval ({self.interval}): the step needs one look")
        return self


class _Document(_Model):
    api_version: Annotated[str, AfterValidator(check_api_version)]
    kind: Annotated[str, AfterValidator(lambda value: check_kind(value, c.ROLLOUT_PLAN_KIND))]
    metadata: _Metadata
    spec: _PlanSpec


# ---- loading ----------------------------------------------------------------------------------


def load_plan(path: str | os.PathLike[str]) -> RolloutPlan:
    """Load and validate the plan file at `path`, and check its spec file exists; SpecError (one line) otherwise."""
    text, source = read_document_text(path, "plan file")
    return load_plan_text(text, source)


def load_plan_text(text: str, source: str) -> RolloutPlan:
    """load_plan of text; `source` names the file in messages and spec.spec is relative to its directory."""
    doc, lines = load_document(text, source, _Document, c.ROLLOUT_PLAN_KIND, "plan")
    spec_path = Path(source).parent / doc.spec.spec
    if not spec_path.is_file():
        problem = "is a directory, not a spec file" if spec_path.is_dir() else "no such file"
        raise SpecError(f"{lines.where(('spec', 'spec'))}: {show(doc.spec.spec)}: {problem} "
                        f"(relative to the plan's directory: {spec_path})")
    return _to_plan(doc, source, spec_path)


def _to_plan(doc: _Document, source: str, spec_path: Path) -> RolloutPlan:
    spec = doc.spec
    compare = spec.compare
    return RolloutPlan(
        name=doc.metadata.name,
        source=source,
        spec_path=spec_path,
        flags=tuple(spec.flags),
        together=spec.together,
        interval_seconds=parse_duration(spec.interval),
        steps=tuple(
            Step(percent=float(step.percent),
                 min_duration_seconds=parse_duration(step.min_duration) if step.min_duration else 0.0,
                 min_events=step.min_events or 0)
            for step in spec.steps
        ),
        compare=CompareCriteria(
            error_ratio_margin=float(compare.error_ratio.margin),
            latency_quantile=float(compare.latency.quantile),
            latency_margin=float(compare.latency.margin),
            alpha=float(compare.alpha),
        ),
        on_failure=OnFailure(rollback_to=RollbackTo(spec.on_failure.rollback_to)),
        flag_setter=_flag_setting(spec.flag_setter),
    )


def _flag_setting(setter: _FlagSetter) -> FlagSetting:
    if setter.command is not None:
        return CommandSetting(argv=tuple(setter.command))
    assert setter.admin_api is not None  # _FlagSetter's validator: exactly one is set
    return AdminApiSetting(url=setter.admin_api.url.rstrip("/"), token_env=setter.admin_api.token_env)
