"""`python -m teambot.runtimes.demo_tests DIR --junit PATH`: the demo runtime's acceptance runner.

Runs the test_*.py files in DIR with unittest and writes a JUnit XML report to PATH, so the
offline demo exercises the same gate as a real project: teambot runs a real command and
reads real results. Exit 0 when tests ran and all passed, 5 when none ran, else 1.
"""

from __future__ import annotations

import argparse
import sys
import time
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path


class _Result(unittest.TextTestResult):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cases: list[tuple[unittest.TestCase, str | None, str]] = []

    def addSuccess(self, test) -> None:  # noqa: N802 (unittest's name)
        super().addSuccess(test)
        self.cases.append((test, None, ""))

    def addFailure(self, test, err) -> None:  # noqa: N802
        super().addFailure(test, err)
        self.cases.append((test, "failure", _headline(err) + "\n" + self._exc_info_to_string(err, test)))

    def addError(self, test, err) -> None:  # noqa: N802
        super().addError(test, err)
        self.cases.append((test, "error", _headline(err) + "\n" + self._exc_info_to_string(err, test)))

    def addSkip(self, test, reason) -> None:  # noqa: N802
        super().addSkip(test, reason)
        self.cases.append((test, "skipped", reason))


def _headline(err) -> str:
    """`AssertionError: 'a' != 'b'`: the exception's first line, the JUnit failure message."""
    kind, value, _ = err
    lines = str(value).splitlines()
    return f"{kind.__name__}: {lines[0] if lines else ''}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m teambot.runtimes.demo_tests")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--junit", type=Path, required=True)
    args = parser.parse_args(argv)
    directory = args.directory.resolve()
    started = time.monotonic()
    result = None
    if directory.is_dir():
        sys.path.insert(0, str(directory))
        suite = unittest.defaultTestLoader.discover(str(directory), pattern="test_*.py", top_level_dir=str(directory))
        result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=_Result).run(suite)
    cases = result.cases if result is not None else []
    suite_el = ET.Element("testsuite", name="demo-acceptance", tests=str(len(cases)),
                          failures=str(sum(1 for c in cases if c[1] == "failure")),
                          errors=str(sum(1 for c in cases if c[1] == "error")),
                          skipped=str(sum(1 for c in cases if c[1] == "skipped")),
                          time=f"{time.monotonic() - started:.3f}")
    for test, outcome, text in cases:
        case = ET.SubElement(suite_el, "testcase", classname=type(test).__qualname__, name=getattr(test, "_testMethodName", str(test)))
        if outcome is not None:
            headline, _, body = text.partition("\n")
            child = ET.SubElement(case, outcome, message=headline[:200])
            child.text = body or headline
    args.junit.parent.mkdir(parents=True, exist_ok=True)
    root = ET.Element("testsuites")
    root.append(suite_el)
    ET.ElementTree(root).write(args.junit, encoding="utf-8", xml_declaration=True)
    ran = len(cases) - sum(1 for c in cases if c[1] == "skipped")
    if ran == 0:
        print("no tests ran")
        return 5
    return 0 if all(c[1] in (None, "skipped") for c in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
