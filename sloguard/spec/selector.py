"""A small hand-written parser for PromQL instant-vector selectors: metric{label op "value", ...}.

Only this grammar, nothing more of PromQL: whole queries are checked by the real
Prometheus parser (promtool), never here.
"""

from __future__ import annotations

from sloguard.spec.model import Matcher, MetricSelector

OPERATORS = ("=", "!=", "=~", "!~")
NAME_LABEL = "__name__"
# Go/PromQL string escapes with a fixed meaning; \x, \u, \U and octal are handled separately.
_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", '"': '"', "'": "'",
}  # fmt: skip
_HEX_DIGITS = "0123456789abcdefABCDEF"


def is_metric_name(text: str) -> bool:
    """True for a valid Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*."""
    return bool(text) and _is_name_start(text[0], colon=True) and all(_is_name_char(c, colon=True) for c in text)


def is_label_name(text: str) -> bool:
    """True for a valid Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*."""
    return bool(text) and _is_name_start(text[0], colon=False) and all(_is_name_char(c, colon=False) for c in text)


def parse_selector(text: str) -> MetricSelector:
    """Parse `metric{label="v", other=~"a|b"}`; ValueError with a short message on anything else."""
    if not isinstance(text, str):
        raise ValueError("a selector must be a string")
    return _Parser(text).selector()


def _is_name_start(char: str, *, colon: bool) -> bool:
    return char.isascii() and (char.isalpha() or char == "_" or (colon and char == ":"))


def _is_name_char(char: str, *, colon: bool) -> bool:
    return _is_name_start(char, colon=colon) or "0" <= char <= "9"


class _Parser:
    """Recursive descent over the characters of one selector."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> ValueError:
        where = "at the end" if self.pos >= len(self.text) else f"at character {self.pos + 1}"
        return ValueError(f"invalid selector {where}: {why}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def name(self, *, colon: bool) -> str:
        start = self.pos
        if self.pos < len(self.text) and _is_name_start(self.text[self.pos], colon=colon):
            self.pos += 1
            while self.pos < len(self.text) and _is_name_char(self.text[self.pos], colon=colon):
                self.pos += 1
        return self.text[start : self.pos]

    def selector(self) -> MetricSelector:
        self.skip_space()
        if self.peek() == "{":
            raise self.fail("put the metric name before the braces, e.g. my_metric_total{...}")
        metric = self.name(colon=True)
        if not metric:
            raise self.fail("expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
        self.skip_space()
        matchers: tuple[Matcher, ...] = ()
        if self.peek() == "{":
            self.pos += 1
            matchers = self.matchers()
            self.skip_space()
        if self.pos < len(self.text):
            raise self.fail(f"unexpected {self.text[self.pos]!r}")
        return MetricSelector(metric=metric, matchers=matchers)

    def matchers(self) -> tuple[Matcher, ...]:
        found: list[Matcher] = []
        while True:
            self.skip_space()
            if self.peek() == "}":
                self.pos += 1
                return tuple(found)
            found.append(self.matcher())
            self.skip_space()
            if self.peek() == ",":
                self.pos += 1  # PromQL allows a trailing comma before "}"
            elif self.peek() != "}":
                raise self.fail('expected "," or "}"')

    def matcher(self) -> Matcher:
        label = self.name(colon=False)
        if not label:
            raise self.fail("expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
        if label == NAME_LABEL:
            raise self.fail("put the metric name before the braces instead of a __name__ matcher")
        self.skip_space()
        op = self.text[self.pos : self.pos + 2]
        if op not in ("!=", "=~", "!~"):
            op = self.text[self.pos : self.pos + 1]
            if op != "=":
                raise self.fail(f'expected "=", "!=", "=~" or "!~" after label {label!r}')
        self.pos += len(op)
        self.skip_space()
        return Matcher(label=label, op=op, value=self.string())

    def string(self) -> str:
        quote = self.peek()
        if quote not in ('"', "'", "`"):
            raise self.fail("expected a quoted label value")
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.fail("unterminated string")
            char = self.text[self.pos]
            self.pos += 1
            if char == quote:
                return "".join(out)
            if "\ud800" <= char <= "\udfff":
                raise self.fail("a lone surrogate is not a valid character")
            if quote == "`":  # raw string: no escapes, as in PromQL
                out.append(char)
            elif char == "\n":
                raise self.fail("newline in a quoted string")
            elif char == "\\":
                out.append(self.escape())
            else:
                out.append(char)

    def escape(self) -> str:
        char = self.peek()
        if char in _SIMPLE_ESCAPES:
            self.pos += 1
            return _SIMPLE_ESCAPES[char]
        if char in ("x", "u", "U"):
            self.pos += 1
            return self.code_point({"x": 2, "u": 4, "U": 8}[char], _HEX_DIGITS, 16)
        if "0" <= char <= "7":
            return self.code_point(3, "01234567", 8)
        raise self.fail(f"unknown escape \\{char}" if char else "backslash at the end")

    def code_point(self, width: int, digits: str, base: int) -> str:
        chunk = self.text[self.pos : self.pos + width]
        if len(chunk) != width or any(c not in digits for c in chunk):
            raise self.fail(f"escape needs {width} digits")
        self.pos += width
        value = int(chunk, base)
        # In PromQL (Go) \x and octal escapes are single bytes: above 0x7F they would be half of a
        # UTF-8 sequence, so allow only ASCII there. Surrogates and values past U+10FFFF cannot be
        # encoded as UTF-8 when the query is sent.
        if width in (2, 3) and value > 0x7F:
            raise self.fail("\\x and octal escapes must be ASCII; write the character or a \\u escape")
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise self.fail("escape is not a valid character")
        return chr(value)
