"""One figure of `make bench`: a value, the baseline measured in the same run, their ratio."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Row:
    figure: str
    value: float
    unit: str
    baseline: float | None
    ratio: float | None
    note: str = ""

    @classmethod
    def of(
        cls, figure: str, value: float, unit: str, baseline: float | None, note: str = ""
    ) -> Row:
        ratio = round(value / baseline, 3) if baseline else None
        return cls(
            figure, round(value, 1), unit, round(baseline, 1) if baseline else None, ratio, note
        )


def print_table(rows: list[Row]) -> None:
    print(f"{'figure':56} {'value':>11} {'unit':11} {'baseline':>11} {'ratio':>7}  note")
    for row in rows:
        baseline = "" if row.baseline is None else f"{row.baseline:11.1f}"
        ratio = "" if row.ratio is None else f"{row.ratio:7.3f}"
        print(
            f"{row.figure:56} {row.value:11.1f} {row.unit:11} {baseline:>11} {ratio:>7}  {row.note}"
        )


def write_json(rows: list[Row], path: Path) -> None:
    path.write_text(json.dumps([asdict(row) for row in rows], indent=2))
