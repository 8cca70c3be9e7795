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

    def addSubTest(self, test, subtest, err) -> None:  # noqa: N802
        # A failing subTest is the only report of its failure: unittest calls neither addFailure nor
        # addSuccess for the test itself then. Passing subtests are not cases of their own.
        super().addSubTest(test, subtest, err)
        if err is not None:
            outcome = "failure" if issubclass(err[0], test.failureException) else "error"
            self.cases.append((subtest, outcome, _headline(err) + "\n" + self._exc_info_to_string(err, test)))

    def addUnexpectedSuccess(self, test) -> None:  # noqa: N802
        super().addUnexpectedSuccess(test)
        self.cases.append((test, "failure", "unexpected success: the test is marked expectedFailure but passed"))

    def addExpectedFailure(self, test, err) -> None:  # noqa: N802
        super().addExpectedFailure(test, err)
        self.cases.append((test, "skipped", "expected failure: " + _headline(err)))  # as pytest reports an xfail


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
        case = ET.SubElement(suite_el, "testcase", classname=_class_name(test), name=_name(test))
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
    return 0 if result.wasSuccessful() and all(c[1] in (None, "skipped") for c in cases) else 1


def _class_name(test) -> str:
    return type(getattr(test, "test_case", test)).__qualname__  # a subtest's test_case is its test


def _name(test) -> str:
    """`test_x`, or `test_x (n=2)` for a subtest (its id is the test's id and the parameters)."""
    case = getattr(test, "test_case", None)
    if case is not None:
        return f"{case._testMethodName} {test.id().removeprefix(case.id()).strip()}".strip()
    return getattr(test, "_testMethodName", str(test))


if __name__ == "__main__":
    sys.exit(main())
