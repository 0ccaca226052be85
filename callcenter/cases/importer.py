"""`callcenter import-cases FILE`: CSV (a header row) or JSON Lines; every bad row reported with its line
number and reason; all or nothing per file; idempotent upserts; --dry-run checks without writing."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.cases.model import Case, RowError, StatusText, case_from_row


@dataclass
class ImportReport:
    cases: list[Case] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    @property
    def ok(self) -> bool:
        return not self.errors


def read_rows(path: Path) -> list[tuple[int, dict[str, Any] | str]]:
    """(line number, row) pairs; a row that cannot even be read comes back as the reason, a string."""
    text = path.read_text(encoding="utf-8-sig")
    rows: list[tuple[int, dict[str, Any] | str]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, text_line in enumerate(text.splitlines(), start=1):
            if not text_line.strip():
                continue
            try:
                value = json.loads(text_line)
            except json.JSONDecodeError as exc:
                rows.append((number, f"not JSON: {exc.msg}"))
                continue
            rows.append((number, value if isinstance(value, dict) else "not a JSON object"))
        return rows
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        line_number = int(reader.line_num)
        if None in row:
            rows.append((line_number, "more values than columns"))
            continue
        rows.append((line_number, {k: v for k, v in row.items() if v not in (None, "")}))
    return rows


def check_file(path: Path, number_pattern: str, vocabulary: dict[str, StatusText]) -> ImportReport:
    pattern = re.compile(number_pattern)
    report = ImportReport()
    seen: dict[str, int] = {}
    for line, row in read_rows(path):
        if isinstance(row, str):
            report.errors.append((line, row))
            continue
        try:
            case = case_from_row(row, pattern, vocabulary)
        except RowError as exc:
            report.errors.append((line, str(exc)))
            continue
        if case.number in seen:
            report.errors.append((line, f"number {case.number} is also on line {seen[case.number]}"))
            continue
        seen[case.number] = line
        report.cases.append(case)
    return report
