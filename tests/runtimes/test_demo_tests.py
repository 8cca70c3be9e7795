"""The demo runtime's acceptance runner: real unittest files in, an exit code and a JUnit report out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from teambot.kinds.junit import read_junit


def run_demo_tests(tmp_path: Path, source: str) -> tuple[int, Path, str]:
    """Run `python -m teambot.runtimes.demo_tests` on one test file; returns (exit code, junit path, stdout)."""
    folder = tmp_path / "acceptance"
    folder.mkdir()
    (folder / "test_sample.py").write_text("import unittest\n\n\n" + source, encoding="utf-8")
    junit = tmp_path / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "teambot.runtimes.demo_tests", str(folder), "--junit", str(junit)],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, junit, proc.stdout + proc.stderr


def test_a_failing_subtest_is_a_failure(tmp_path):
    """One failing subTest among passing ones: exit 1 and a failing testcase naming the subtest's parameters."""
    code, junit, out = run_demo_tests(tmp_path, (
        "class Words(unittest.TestCase):\n"
        "    def test_counts(self):\n"
        "        for n in (1, 2, 3):\n"
        "            with self.subTest(n=n):\n"
        "                self.assertNotEqual(n, 2, 'two is wrong')\n"
        "    def test_ok(self):\n"
        "        pass\n"))
    assert code == 1, out
    report = read_junit(junit)
    assert not report.passed and report.failures == 1 and report.errors == 0
    [(name, detail)] = report.failed
    assert name == "Words.test_counts (n=2)" and "two is wrong" in detail


def test_an_error_in_a_subtest_is_an_error(tmp_path):
    """An exception other than an assertion inside a subTest is reported as an error."""
    code, junit, out = run_demo_tests(tmp_path, (
        "class Words(unittest.TestCase):\n"
        "    def test_counts(self):\n"
        "        with self.subTest('lookup'):\n"
        "            {}['missing']\n"))
    assert code == 1, out
    report = read_junit(junit)
    assert (report.failures, report.errors) == (0, 1) and "KeyError" in report.failed[0][1]


def test_an_unexpected_success_is_a_failure(tmp_path):
    """A test marked expectedFailure that passes fails the run; one that fails as expected is reported as skipped."""
    code, junit, out = run_demo_tests(tmp_path, (
        "class Words(unittest.TestCase):\n"
        "    @unittest.expectedFailure\n"
        "    def test_surprise(self):\n"
        "        pass\n"
        "    @unittest.expectedFailure\n"
        "    def test_known_bug(self):\n"
        "        self.fail('known')\n"
        "    def test_ok(self):\n"
        "        pass\n"))
    assert code == 1, out
    report = read_junit(junit)
    assert (report.tests, report.failures, report.skipped) == (3, 1, 1)
    assert report.failed[0][0] == "Words.test_surprise" and "unexpected success" in report.failed[0][1]


def test_passing_subtests_pass(tmp_path):
    """Subtests that all pass: exit 0 and one passing testcase for the test."""
    code, junit, out = run_demo_tests(tmp_path, (
        "class Words(unittest.TestCase):\n"
        "    def test_counts(self):\n"
        "        for n in (1, 2):\n"
        "            with self.subTest(n=n):\n"
        "                self.assertTrue(n)\n"))
    assert code == 0, out
    report = read_junit(junit)
    assert report.passed and (report.tests, report.failures, report.errors) == (1, 0, 0)
