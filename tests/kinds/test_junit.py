"""JUnit XML from a real pytest run is read into counts; zero tests and broken reports never pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from teambot.kinds.acceptance import judge
from teambot.kinds.junit import JUnitError, read_junit


def run_pytest(tmp_path: Path, source: str) -> tuple[int, str, Path]:
    """Run real pytest on one test file; returns (exit code, stdout, junit path)."""
    (tmp_path / "test_sample.py").write_text(source, encoding="utf-8")
    junit = tmp_path / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_sample.py"),
                           f"--junitxml={junit}"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    return proc.returncode, proc.stdout, junit


def test_counts_and_failures_from_real_pytest(tmp_path):
    """Passed, failed, errored and skipped tests are counted; failing tests carry their message."""
    code, out, junit = run_pytest(tmp_path, (
        "import pytest\n"
        "def test_ok(): assert True\n"
        "def test_bad(): assert 1 == 2, 'one is not two'\n"
        "@pytest.fixture\ndef broken(): raise RuntimeError('fixture broke')\n"
        "def test_error(broken): pass\n"
        "@pytest.mark.skip(reason='later')\ndef test_skip(): pass\n"))
    report = read_junit(junit)
    assert (report.tests, report.failures, report.errors, report.skipped) == (4, 1, 1, 1)
    assert not report.passed
    names = [name for name, _ in report.failed]
    assert any(n.endswith("test_bad") for n in names) and any(n.endswith("test_error") for n in names)
    assert any("one is not two" in text for _, text in report.failed)
    judged = judge(code, out, junit)
    assert not judged.passed and judged.summary == "3 tests ran: 1 failed, 1 errors, 1 skipped"


def test_all_passing_passes(tmp_path):
    """Exit 0 and a report with passing tests is a pass."""
    code, out, junit = run_pytest(tmp_path, "def test_a(): pass\ndef test_b(): pass\n")
    judged = judge(code, out, junit)
    assert judged.passed and judged.counts["tests"] == 2


def test_zero_tests_is_a_failure(tmp_path):
    """A file without tests (pytest exit 5) is 'no acceptance tests ran', with or without JUnit."""
    code, out, junit = run_pytest(tmp_path, "x = 1\n")
    assert code == 5
    assert judge(code, out, junit).summary.startswith("no acceptance tests ran")
    assert not judge(code, out, None).passed
    assert not judge(0, "Ran 0 tests in 0.000s\n\nNO TESTS RAN\n", None).passed


def test_only_skipped_tests_is_a_failure(tmp_path):
    """Collected but all skipped: nothing executed, so no pass."""
    code, out, junit = run_pytest(tmp_path, "import pytest\n@pytest.mark.skip\ndef test_a(): pass\n")
    judged = judge(code, out, junit)
    assert not judged.passed and "no acceptance tests ran" in judged.summary


def test_a_report_that_disagrees_with_the_exit_code_fails(tmp_path):
    """Passing tests in the report but a non-zero exit: the stricter reading wins."""
    code, out, junit = run_pytest(tmp_path, "def test_a(): pass\n")
    judged = judge(1, out, junit)
    assert not judged.passed and "exited with code 1" in judged.summary


@pytest.mark.parametrize("content, reason", [
    (None, "wrote no JUnit XML"),
    ("<testsuite><testcase", "cannot be read"),
    ("<html></html>", "not a JUnit XML report"),
])
def test_missing_or_broken_reports_are_failures(tmp_path, content, reason):
    """No report, a torn one, or another XML document: a failure that says why."""
    path = tmp_path / "junit.xml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(JUnitError, match=reason):
        read_junit(path)
    judged = judge(0, "", path)
    assert not judged.passed and reason in judged.summary


def test_an_unknown_encoding_is_an_unreadable_report(tmp_path):
    """A report declaring an encoding Python does not know is a failed iteration, not a crash."""
    path = tmp_path / "junit.xml"
    path.write_text('<?xml version="1.0" encoding="bogus-enc"?><testsuite><testcase name="a"/></testsuite>')
    with pytest.raises(JUnitError, match="cannot be read"):
        read_junit(path)


def test_a_skip_followed_by_a_teardown_error_fails(tmp_path):
    """Real pytest writes <skipped/> then <error/> in one testcase for a skip with a teardown error: it fails."""
    code, out, junit = run_pytest(tmp_path, (
        "import pytest\n"
        "@pytest.fixture\ndef bad():\n    yield\n    raise RuntimeError('teardown broke')\n"
        "def test_skip_then_error(bad): pytest.skip('later')\n"
        "def test_ok(): pass\n"))
    report = read_junit(junit)
    assert (report.tests, report.failures, report.errors, report.skipped) == (2, 0, 1, 0)
    assert [name for name, _ in report.failed] == ["test_sample.test_skip_then_error"]
    assert "teardown broke" in report.failed[0][1]
    judged = judge(0, out, junit)  # even with an exit code that claims success
    assert not judged.passed and judged.summary == "2 tests ran: 0 failed, 1 errors, 0 skipped"
    assert judged.counts == {"tests": 2, "failures": 0, "errors": 1, "skipped": 0}


def test_any_failure_element_fails_its_testcase_and_each_case_counts_once(tmp_path):
    """A failure after a skip fails the case; a case with a failure and an error counts once, as an error."""
    path = tmp_path / "junit.xml"
    path.write_text('<testsuite tests="4" failures="0"><testcase name="a"><skipped/><failure message="late"/></testcase>'
                    '<testcase name="b"><failure message="f"/><error message="e"/></testcase>'
                    '<testcase name="c"><skipped/></testcase><testcase name="d"/></testsuite>', encoding="utf-8")
    report = read_junit(path)
    assert (report.tests, report.failures, report.errors, report.skipped) == (4, 1, 1, 1)
    assert report.failures + report.errors == len(report.failed)
    assert dict(report.failed)["b"] == "f\n\ne"  # both messages reach the work agent
    assert judge(0, "", path).summary == "3 tests ran: 1 failed, 1 errors, 1 skipped"


def test_entities_and_dtds_are_refused(tmp_path):
    """A report with an entity declaration (billion laughs, external files) is unreadable, never expanded."""
    path = tmp_path / "junit.xml"
    path.write_text('<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
                    '<testsuite><testcase name="&b;"/></testsuite>', encoding="utf-8")
    with pytest.raises(JUnitError, match="cannot be read"):
        read_junit(path)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    """A FIFO at the report path (no writer) is refused at once instead of blocking in open()."""
    import os
    import time

    path = tmp_path / "junit.xml"
    os.mkfifo(path)
    started = time.monotonic()
    with pytest.raises(JUnitError, match="is a FIFO; teambot reads only a regular file"):
        read_junit(path)
    assert time.monotonic() - started < 5


def test_symlinks_are_refused_for_the_file_and_its_folders(tmp_path):
    """A symlink at the report path, or a symlinked folder on the way from the root, is refused, not followed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "junit.xml").write_text('<testsuite><testcase name="a"/></testsuite>', encoding="utf-8")
    root = tmp_path / "run"
    (root / "iterations").mkdir(parents=True)
    (root / "iterations" / "junit.xml").symlink_to(outside / "junit.xml")
    with pytest.raises(JUnitError, match="is a symbolic link"):
        read_junit(root / "iterations" / "junit.xml", root=root)
    (root / "linked").symlink_to(outside)
    with pytest.raises(JUnitError, match=r"lies under one \(.*linked\)"):
        read_junit(root / "linked" / "junit.xml", root=root)
    assert read_junit(outside / "junit.xml").tests == 1  # the same file, reached directly, is read


@pytest.mark.parametrize("xml", [
    '<testsuite tests="3" failures="2"><testcase name="a"/></testsuite>',
    '<testsuites><testsuite tests="1" errors="1"><testcase name="a"/></testsuite></testsuites>',
    '<testsuites tests="5"><testsuite><testcase name="a"/></testsuite></testsuites>',
])
def test_a_report_contradicting_its_own_totals_fails(tmp_path, xml):
    """Suite totals claiming more tests or failures than the testcases show: the iteration fails, even with exit 0."""
    path = tmp_path / "junit.xml"
    path.write_text(xml, encoding="utf-8")
    judged = judge(0, "", path)
    assert not judged.passed and "contradicts itself" in judged.summary and "(exit code 0)" in judged.summary


def test_a_non_numeric_suite_total_is_an_unreadable_report(tmp_path):
    """A suite's `tests` attribute that is not a number: the report cannot be read, not a crash and not a pass."""
    path = tmp_path / "junit.xml"
    path.write_text('<testsuite tests="many"><testcase name="a"/></testsuite>', encoding="utf-8")
    judged = judge(0, "", path)
    assert not judged.passed and 'tests="many" is not a count' in judged.summary


@pytest.mark.parametrize("case, errors", [
    ('<testcase name="a" status="failed"/>', 0),
    ('<testcase name="a" result="FAILURE"/>', 0),
    ('<testcase name="a" status="error"/>', 1),
    ('<testcase name="a"><Failure message="m"/></testcase>', 0),
    ('<testcase name="a"><ERROR/></testcase>', 1),
    ('<testcase name="a"><j:failure xmlns:j="urn:junit" message="m"/></testcase>', 0),
])
def test_failures_written_in_any_case_namespace_or_status_attribute_fail(tmp_path, case, errors):
    """A failed status/result attribute, a <Failure> in another case or a namespaced <j:failure> fails the test."""
    path = tmp_path / "junit.xml"
    path.write_text(f'<testsuite>{case}<testcase name="ok"/></testsuite>', encoding="utf-8")
    report = read_junit(path)
    assert (report.tests, report.failures + report.errors, report.errors) == (2, 1, errors)
    assert [name for name, _ in report.failed] == ["a"]
    assert not judge(0, "", path).passed


def test_namespaced_and_upper_case_reports_are_read(tmp_path):
    """A report in a namespace or with upper-case tags is read like any other (here: passing)."""
    path = tmp_path / "junit.xml"
    path.write_text('<j:TestSuite xmlns:j="urn:junit" tests="1"><j:TestCase name="a"/></j:TestSuite>', encoding="utf-8")
    assert judge(0, "", path).passed
    path.write_text('<TESTSUITES><TESTSUITE tests="2" failures="0"><TESTCASE name="a"/><TestCase name="b"><Skipped/>'
                    '</TestCase></TESTSUITE></TESTSUITES>', encoding="utf-8")
    assert judge(0, "", path).summary == "1 test ran: 0 failed, 0 errors, 1 skipped"


def test_real_pytest_totals_with_split_teardown_errors_are_consistent(tmp_path):
    """Real pytest's totals (a call failure plus a teardown error written as two testcases, xfail, xpass strict) never contradict."""
    code, out, junit = run_pytest(tmp_path, (
        "import pytest\n"
        "@pytest.fixture\ndef bad():\n    yield\n    raise RuntimeError('teardown broke')\n"
        "def test_fail_then_error(bad): assert 0\n"
        "def test_skip_then_error(bad): pytest.skip('later')\n"
        "@pytest.mark.xfail\ndef test_xfail(): assert 0\n"
        "@pytest.mark.xfail(strict=True)\ndef test_xpass(): pass\n"
        "def test_ok(): pass\n"))
    report = read_junit(junit)
    assert (report.tests, report.failures, report.errors) == (6, 2, 2)
    assert "contradicts" not in judge(code, out, junit).summary


def test_a_hard_link_is_refused(tmp_path):
    """A report that is a hard link (to a file elsewhere) is refused: its text could come from any file of the machine."""
    import os

    outside = tmp_path / "outside.xml"
    outside.write_text('<testsuite><testcase name="a"/></testsuite>', encoding="utf-8")
    (tmp_path / "run").mkdir()
    os.link(outside, tmp_path / "run" / "junit.xml")
    with pytest.raises(JUnitError, match="has 2 hard links; teambot reads only a regular file"):
        read_junit(tmp_path / "run" / "junit.xml", root=tmp_path / "run")
