"""Read a versioned SLO spec from YAML; every error is one line: FILE:LINE: FIELD.PATH: message."""

from __future__ import annotations

import difflib
import inspect
import os
import re
import typing
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sloguard.conventions import SPEC_KIND
from sloguard.errors import SpecError
from sloguard.numbers import format_number
from sloguard.spec import fields, v1
from sloguard.spec.model import SLOSet

Loc = tuple[str | int, ...]
Document = TypeVar("Document", bound=BaseModel)
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class SpecLines:
    """Where the fields of a loaded spec are, for checks that run on its model (`sloguard validate`)."""

    source: str
    root: yaml.MappingNode

    def line(self, loc: Loc) -> int:
        """The line of the field at `loc`, a path from the document's top: ("spec", "objectives", 0, ...)."""
        return _locate(self.root, loc)

    def where(self, loc: Loc) -> str:
        """`FILE:LINE: path` of the field at `loc`, as every spec error starts."""
        return f"{self.source}:{self.line(loc)}: {_render(loc)}"


def load_spec(path: str | os.PathLike[str], variables: Mapping[str, float] | None = None) -> SLOSet:
    """Load and validate the spec file at `path`; SpecError (one line) on any problem."""
    return load_spec_with_lines(path, variables)[0]


def load_spec_with_lines(path: str | os.PathLike[str],
                         variables: Mapping[str, float] | None = None) -> tuple[SLOSet, SpecLines]:
    """load_spec, and where each of the spec's fields is in the file."""
    text, source = read_document_text(path)
    return _load(text, source, variables)


def read_document_text(path: str | os.PathLike[str], what: str = "spec file") -> tuple[str, str]:
    """The UTF-8 text of the file at `path` and its name for messages; SpecError (one line) if unreadable."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise SpecError(_one_line(f"{source}: no such file")) from None
    except IsADirectoryError:
        raise SpecError(_one_line(f"{source}: is a directory, not a {what}")) from None
    except PermissionError:
        raise SpecError(_one_line(f"{source}: permission denied")) from None
    except OSError as exc:
        raise SpecError(_one_line(f"{source}: cannot read: {exc.strerror or exc}")) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SpecError(
            _one_line(f"{source}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8")
        ) from None
    return text, source


def load_spec_text(text: str, source: str = "<string>", variables: Mapping[str, float] | None = None) -> SLOSet:
    """Load and validate a spec given as text; `source` names it in messages.

    `variables` override the defaults of `spec.variables` (e.g. a load profile's rate).
    """
    return _load(text, source, variables)[0]


def _load(text: str, source: str, variables: Mapping[str, float] | None) -> tuple[SLOSet, SpecLines]:
    root, data = _read_yaml(text, source)
    _check_header(root, data, source, SPEC_KIND)
    _substitute_variables(root, data, dict(variables or {}), source)
    doc = _validate(v1.Document, root, data, source)
    return v1.to_model(doc, source), SpecLines(source, root)


def load_document(text: str, source: str, document: type[Document], kind: str,
                  what: str = "file") -> tuple[Document, SpecLines]:
    """Another sloguard/v1 kind (e.g. a RolloutPlan) validated by `document`, with this loader's one-line errors."""
    root, data = _read_yaml(text, source, what)
    _check_header(root, data, source, kind)
    return _validate(document, root, data, source), SpecLines(source, root)


def _validate(document: type[Document], root: yaml.MappingNode, data: dict[Any, Any], source: str) -> Document:
    try:
        return document.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, root, source, document) from None


# ---- YAML -------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses values Python cannot carry through to a query or a report."""

    def construct_scalar(self, node: yaml.ScalarNode) -> Any:  # type: ignore[override]
        value = super().construct_scalar(node)
        # A "\ud800" escape yields a lone surrogate: it cannot be encoded as UTF-8 later.
        if isinstance(value, str) and any("\ud800" <= char <= "\udfff" for char in value):
            raise yaml.constructor.ConstructorError(
                None, None, "a lone surrogate escape is not a valid character", node.start_mark
            )
        return value

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            # e.g. `2024-13-01` matches the timestamp pattern and then fails in datetime().
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {exc}", node.start_mark
            ) from None


def _read_yaml(text: str, source: str, what: str = "spec") -> tuple[yaml.MappingNode, dict[Any, Any]]:
    """Compose (for line numbers) and construct (for values) the single YAML document in `text`."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, source) from None
    try:
        root = loader.get_single_node()
        if root is None or (isinstance(root, yaml.ScalarNode) and root.tag.endswith(":null")):
            raise SpecError(_one_line(f"{source}:1: empty {what}; expected apiVersion, kind, metadata, spec"))
        if not isinstance(root, yaml.MappingNode):
            raise SpecError(
                _one_line(
                    f"{source}:{_line(root)}: the top level must be a mapping with apiVersion, kind, metadata, spec"
                )
            )
        _reject_duplicate_keys(root, source)
        data = loader.construct_document(root)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, source) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "cannot parse"
        if exc.context and problem.startswith("but "):  # "expected a single document ..., but found ..."
            problem = f"{exc.context}, {problem}"
        raise SpecError(_one_line(f"{source}:{_mark_line(mark)}: invalid YAML: {problem}")) from None
    except yaml.YAMLError as exc:
        raise SpecError(_one_line(f"{source}:1: invalid YAML: {exc}")) from None
    except RecursionError:
        raise SpecError(_one_line(f"{source}:1: invalid YAML: nested too deeply")) from None
    finally:
        loader.dispose()
    return root, data


def _reader_error(exc: yaml.reader.ReaderError, text: str, source: str) -> SpecError:
    line = text.count("\n", 0, max(exc.position, 0)) + 1
    char = exc.character if isinstance(exc.character, str) else chr(exc.character)
    return SpecError(_one_line(f"{source}:{line}: invalid YAML: special character {char!r} is not allowed"))


def _reject_duplicate_keys(root: yaml.MappingNode, source: str) -> None:
    """PyYAML silently keeps the last of two equal keys; a spec must not depend on that."""
    duplicates: list[tuple[int, str]] = []
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:  # an alias: visited already (and keeps this linear)
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, index)) for index, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            first_line: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                    ident = (key.tag, key.value)
                    if ident in first_line:
                        where = _render((*path, key.value))
                        duplicates.append((_line(key), f"{where}: duplicate key (first at line {first_line[ident]})"))
                    else:
                        first_line[ident] = _line(key)
                    stack.append((value, (*path, key.value)))
                else:
                    stack.append((value, path))
    if duplicates:
        line, message = min(duplicates)  # the first in the file, like every other error
        raise SpecError(_one_line(f"{source}:{line}: {message}"))


def _line(node: yaml.Node | None) -> int:
    return 1 if node is None else _mark_line(node.start_mark)


def _mark_line(mark: yaml.Mark | None) -> int:
    return 1 if mark is None else mark.line + 1


# ---- validation errors ------------------------------------------------------------------------


def _check_header(root: yaml.MappingNode, data: dict[Any, Any], source: str, kind: str) -> None:
    """apiVersion and kind first: for another version or kind, the field errors would mislead."""
    checks = (("apiVersion", v1.check_api_version), ("kind", lambda value: v1.check_kind(value, kind)))
    for key, check in checks:
        if key not in data:
            hint = f"expected {v1.SUPPORTED_VERSIONS[0]}" if key == "apiVersion" else f"expected {kind}"
            raise SpecError(_one_line(f"{source}:{_line(root)}: {key}: is required ({hint})"))
        try:
            check(data[key])
        except ValueError as exc:
            line = _locate(root, (key,))
            raise SpecError(_one_line(f"{source}:{line}: {key}: {exc}")) from None


def _validation_error(exc: ValidationError, root: yaml.MappingNode, source: str,
                      document: type[BaseModel]) -> SpecError:
    """The first problem in file order, with its line, field path and a plain-words message."""
    errors = exc.errors(include_url=False)
    # A misspelt key shows up twice: as an unknown key and as its missing counterpart. The unknown
    # key ("did you mean objective?") explains both, so a missing field ranks after its siblings.
    unknown_parents = {tuple(error["loc"][:-1]) for error in errors if error["type"] == "extra_forbidden"}
    problems: list[tuple[int, int, str]] = []
    for error in errors:
        loc, path_loc, message = _describe(error, document)
        path = _render(path_loc)
        rank = 1 if error["type"] == "missing" and tuple(loc[:-1]) in unknown_parents else 0
        problems.append((_locate(root, loc), rank, f"{path}: {message}" if path else message))
    if any(rank for _, rank, _ in problems):
        last = max(line for line, _, _ in problems)
        problems = [(last if rank else line, rank, text) for line, rank, text in problems]
    problems.sort(key=lambda problem: problem[:2])  # stable: one line keeps pydantic's field order
    line, _, text = problems[0]
    more = sum(1 for _, rank, _ in problems if rank == 0) - 1  # a missing twin of a typo is not news
    if more:
        text += f" (and {more} more problem{'s' if more > 1 else ''})"
    return SpecError(_one_line(f"{source}:{line}: {text}"))


_TYPE_MESSAGES = {
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "finite_number": "must be a finite number",
    "string_too_short": "must not be empty",
    "missing": "is required",
}
_BOUND_MESSAGES = {
    "greater_than": ("gt", "must be greater than {}"),
    "greater_than_equal": ("ge", "must be at least {}"),
    "less_than": ("lt", "must be less than {}"),
    "less_than_equal": ("le", "must be at most {}"),
}


def _describe(error: Any, document: type[BaseModel]) -> tuple[Loc, Loc, str]:
    """Where one pydantic error is (for its line; for the field path shown) and its plain-words message."""
    kind: str = error["type"]
    loc: Loc = tuple(error["loc"])
    ctx: dict[str, Any] = error.get("ctx") or {}
    if loc and loc[-1] == "[key]":  # a dict key failed its own validation: name the mapping and the key
        loc = loc[:-1]
        return loc, loc[:-1], f"key {fields.show(loc[-1])}: {_plain(kind, ctx, error['msg'])}"
    if kind == "invalid_key":
        return loc, loc[:-1], f"key {fields.show(loc[-1])}: must be a string"
    if kind == "extra_forbidden":
        return loc, loc, _unknown_key(loc, document)
    if kind == "too_short" and loc == ("spec", "objectives"):
        return loc, loc, "must list at least one objective"
    if kind == "too_short":
        return loc, loc, f"must have at least {ctx.get('min_length', 1)} items"
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        if isinstance(cause, fields.FieldError):
            loc = loc + cause.path
    return loc, loc, _plain(kind, ctx, error["msg"])


def _plain(kind: str, ctx: dict[str, Any], msg: str) -> str:
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    if kind in _BOUND_MESSAGES:
        key, template = _BOUND_MESSAGES[kind]
        limit = ctx.get(key)
        return template.format(format_number(limit) if isinstance(limit, int | float) else limit)
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind in ("value_error", "assertion_error") and ctx.get("error") is not None:
        return str(ctx["error"])
    # Anything unforeseen: pydantic's words without its boilerplate.
    return msg.removeprefix("Value error, ").replace("Input should be", "must be")


def _unknown_key(loc: Loc, document: type[BaseModel]) -> str:
    model = _model_at(document, loc[:-1])
    if model is None:
        return "unknown key"
    allowed = [field.alias or name for name, field in model.model_fields.items()]
    if model is v1.SLI:
        return f"unknown SLI kind; expected one of {', '.join(allowed)}"
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    if close:
        return f"unknown key (did you mean {close[0]}?)"
    return f"unknown key; expected one of {', '.join(allowed)}"


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The v1 model class that validates the mapping at `loc` (list indexes skipped)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        assert current is not None
        field = next((f for name, f in current.model_fields.items() if (f.alias or name) == part), None)
        if field is None:
            return None
        current = _inner_model(field.annotation)
        if current is None:
            return None
    return current


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as `Bound | None` or `list[Objective]`."""
    if inspect.isclass(annotation) and typing.get_origin(annotation) is None and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _locate(root: yaml.Node, loc: Loc) -> int:
    """The line of the deepest node on `loc` that exists (a missing field: its parent's line)."""
    node: yaml.Node = root
    line = _line(root)
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):  # the last equal key is the one PyYAML keeps
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child, line = value, _line(key)
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            line = _line(child)
        if child is None:
            break
        node = child
    return line


def _render(loc: Loc) -> str:
    """objectives[2].objective.max; paths under `spec` are shown relative to it."""
    if len(loc) > 1 and loc[0] == "spec":
        loc = loc[1:]
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and all(char.isalnum() or char in "_-" for char in part):
            out += f".{part}" if out else part
        else:
            out += f"[{fields.show(part)}]"
    return out


def _one_line(message: str) -> str:
    """Escape line breaks and other control characters so the message stays one printable line."""
    if all(char.isprintable() for char in message):
        return message
    return "".join(
        char if char.isprintable() and unicodedata.category(char) != "Cs" else ascii(char)[1:-1] for char in message
    )


# ---- variables --------------------------------------------------------------------------------
# A bound whose right value depends on the load that ran (throughput) is written "${name}";
# spec.variables holds its production default and a load run's profile may override it.

_VARIABLE_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def declared_variables(data: Any) -> dict[str, Any]:
    spec = data.get("spec") if isinstance(data, dict) else None
    declared = spec.get("variables") if isinstance(spec, dict) else None
    return declared if isinstance(declared, dict) else {}


def _substitute_variables(root: yaml.MappingNode, data: dict[Any, Any], overrides: dict[str, float],
                          source: str) -> None:
    """Replace every "${name}" value under spec with the variable's number, in place."""
    declared = declared_variables(data)
    undeclared = sorted(set(overrides) - set(declared))
    if undeclared:
        raise SpecError(_one_line(f"{source}: variable {', '.join(undeclared)} is not declared in spec.variables"))
    values = {**declared, **overrides}
    spec_node = next((v for k, v in root.value if k.value == "spec"), None)
    if spec_node is None or not isinstance(data.get("spec"), dict):
        return
    _walk(spec_node, data["spec"], values, source)


def _walk(node: yaml.Node, value: Any, values: dict[str, Any], source: str) -> Any:
    if isinstance(node, yaml.MappingNode) and isinstance(value, dict):
        for key_node, child in node.value:
            if key_node.value in value and key_node.value != "variables":
                value[key_node.value] = _walk(child, value[key_node.value], values, source)
    elif isinstance(node, yaml.SequenceNode) and isinstance(value, list):
        for index, child in enumerate(node.value[: len(value)]):
            value[index] = _walk(child, value[index], values, source)
    elif isinstance(value, str) and (match := _VARIABLE_REF.match(value)):
        name = match.group(1)
        if name not in values:
            raise SpecError(_one_line(f"{source}:{_line(node)}: ${{{name}}}: no such variable in spec.variables"))
        return values[name]
    return value
