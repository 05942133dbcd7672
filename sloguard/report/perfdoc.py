"""What a performance report is made of: sections of paragraphs, tables and charts (rendered by report.html)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Para:
    text: str


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Chart:
    key: str  # what the chart shows (performance.CHARTS), for the HTML's data-chart attribute
    title: str
    svg: str


Block = Para | Table | Chart


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


@dataclass
class Report:
    title: str
    generated: str
    sections: list[Section]
