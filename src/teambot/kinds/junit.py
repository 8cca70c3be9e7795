"""Read a JUnit XML report (pytest --junitxml, and most test runners) into counts and failures.

The file is written by a command the agents could have changed, so it is read with a size
cap and Python's expat parser (which expands no external entities); a file that does not
parse is reported, never trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MAX_BYTES = 50 * 1024 * 1024
DETAIL_CAP = 2000  # characters of one failure's message and text kept for the work agent


@dataclass
class JUnitReport:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (test id, message and text)

    @property
    def executed(self) -> int:
        return self.tests - self.skipped

    @property
    def passed(self) -> bool:
        return self.executed > 0 and self.failures == 0 and self.errors == 0


class JUnitError(Exception):
    """The report is missing, too big or not JUnit XML."""


def read_junit(path: Path) -> JUnitReport:
    """Counts from every <testcase> in the file (the suites' own totals are not trusted)."""
    import xml.etree.ElementTree as ET

    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise JUnitError(f"the acceptance command wrote no JUnit XML report at {path}") from None
    if size > MAX_BYTES:
        raise JUnitError(f"the JUnit XML report {path} is {size:,} bytes; over the {MAX_BYTES:,} byte limit")
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError, LookupError, ValueError) as exc:  # LookupError: an unknown encoding
        raise JUnitError(f"the JUnit XML report {path} cannot be read: {exc}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise JUnitError(f"{path} is not a JUnit XML report (its root element is <{root.tag}>)")
    report = JUnitReport()
    for case in root.iter("testcase"):
        report.tests += 1
        name = ".".join(p for p in (case.get("classname"), case.get("name")) if p) or "(unnamed test)"
        outcome = None
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = child
                break
        if outcome is None:
            continue
        if outcome.tag == "skipped":
            report.skipped += 1
            continue
        if outcome.tag == "failure":
            report.failures += 1
        else:
            report.errors += 1
        detail = "\n".join(p for p in (outcome.get("message"), (outcome.text or "").strip()) if p)
        report.failed.append((name, detail[:DETAIL_CAP]))
    return report
