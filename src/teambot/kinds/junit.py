"""Read a JUnit XML report (pytest --junitxml, and most test runners) into counts and failures.

The file is written by a command the agents could have changed, so nothing in it is trusted:
it is read only when it is a regular file with one link, reached without symlinks (a FIFO
would block the read forever, a symlink or hard link could copy any file of the machine into
the run), with a size cap, and parsed with defusedxml (no entities, no DTDs); a file that
does not parse is reported.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_BYTES = 50 * 1024 * 1024
DETAIL_CAP = 2000  # characters of one failure's message and text kept for the work agent
_CHUNK = 1 << 20


@dataclass
class JUnitReport:
    """Each testcase counted once: an <error> makes it an error, else a <failure> a failure (even
    after a <skipped>, as pytest writes a skip followed by a teardown error), else <skipped> skips it."""

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
    """The report is missing, not a regular file, too big or not JUnit XML."""


def read_report(path: Path, root: Path | None = None) -> bytes:
    """The bytes of the regular file at `path`, which must lie under `root` (default: its folder).

    Every directory below `root` and the file itself are opened without following symlinks,
    and the file with O_NONBLOCK, so a FIFO or device there is refused instead of blocking."""
    root = root or path.parent
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise JUnitError(f"the JUnit XML report {path} is not under {root}") from None
    fd = None
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_NONBLOCK | os.O_NOCTTY if last else os.O_DIRECTORY)
            try:
                inner = os.open(part, flags, dir_fd=fd)
            except OSError as exc:  # O_NOFOLLOW met a symlink: ELOOP for the file, ENOTDIR for a folder
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and \
                        stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
                    raise JUnitError(f"the JUnit XML report {path} is a symbolic link or lies under one "
                                     f"({root.joinpath(*parts[:i + 1])}); teambot reads only a regular file "
                                     "written at that path") from None
                raise
            os.close(fd)
            fd = inner
        return _read_regular(fd, path)
    except FileNotFoundError:
        raise JUnitError(f"the acceptance command wrote no JUnit XML report at {path}") from None
    except OSError as exc:
        raise JUnitError(f"the JUnit XML report {path} cannot be read: {exc.strerror or exc}") from None
    finally:
        if fd is not None:
            os.close(fd)


def _read_regular(fd: int, path: Path) -> bytes:
    info = os.fstat(fd)
    mode = info.st_mode
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise JUnitError(f"the JUnit XML report {path} is {kind}; teambot reads only a regular file written at that path")
    if info.st_nlink != 1:  # a hard link to a file elsewhere would copy that file into the run
        raise JUnitError(f"the JUnit XML report {path} has {info.st_nlink} hard links; teambot reads only a regular "
                         "file written at that path")
    chunks, size = [], 0
    while size <= MAX_BYTES:  # bounded by what is read, not by st_size: the file may still grow
        chunk = os.read(fd, min(_CHUNK, MAX_BYTES + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > MAX_BYTES:
        raise JUnitError(f"the JUnit XML report {path} is over the {MAX_BYTES:,} byte limit")
    return b"".join(chunks)


def read_junit(path: Path, data: bytes | None = None, root: Path | None = None,
               redact: Callable[[str], str] | None = None) -> JUnitReport:
    """Counts from every <testcase> in the report (the suites' own totals are not trusted: pytest
    counts a skipped test with a teardown error both as skipped and as an error; they are only
    checked against the testcases, see `_check_totals`). Tags are matched by their local name
    in any case; a testcase's `status`/`result` attribute of failed or error fails it too.

    `data` is the report as already read by `read_report`; else it is read from `path` here.
    `redact` is applied to each failure's text before it is cut: a secret the cut splits in two
    would no longer be recognised afterwards."""
    if data is None:
        data = read_report(path, root)
    try:
        root_el = fromstring(data)
    except (ParseError, DefusedXmlException, LookupError, ValueError) as exc:  # LookupError: an unknown encoding
        raise JUnitError(f"the JUnit XML report {path} cannot be read: {exc}") from None
    if _local(root_el) not in ("testsuites", "testsuite"):
        raise JUnitError(f"{path} is not a JUnit XML report (its root element is <{root_el.tag}>)")
    report = JUnitReport()
    failing: dict[int, int] = {}  # id(testcase) -> its failing elements (or 1 for a failed status)
    for case in (el for el in root_el.iter() if _local(el) == "testcase"):
        report.tests += 1
        children = [(_local(child), child) for child in case]
        tags = {tag for tag, _ in children}
        key, status = next(((k, v.strip().lower()) for k, v in _attrs(case).items() if k in ("status", "result")),
                           ("", ""))
        failing[id(case)] = sum(tag in _FAILING for tag, _ in children) or int(status in _FAILED_STATUS)
        if "error" in tags or (status in _ERROR_STATUS and "failure" not in tags):
            report.errors += 1
        elif "failure" in tags or status in _FAILED_STATUS:
            report.failures += 1
        else:
            report.skipped += "skipped" in tags
            continue
        name = ".".join(p for p in (case.get("classname"), case.get("name")) if p) or "(unnamed test)"
        detail = "\n\n".join(
            "\n".join(p for p in (child.get("message"), (child.text or "").strip()) if p)
            for tag, child in children if tag in _FAILING) or f'its {key} attribute is "{status}"'
        report.failed.append((name, (redact(detail) if redact else detail)[:DETAIL_CAP]))
    _check_totals(root_el, failing, path)
    return report


_FAILING = ("failure", "error")
_ERROR_STATUS = ("error", "errored")
_FAILED_STATUS = ("failed", "failure", "fail", *_ERROR_STATUS)


def _local(el) -> str:
    """An element's tag without its namespace, in lower case (`{urn:x}Failure` is `failure`)."""
    return el.tag.rsplit("}", 1)[-1].lower() if isinstance(el.tag, str) else ""


def _attrs(el) -> dict[str, str]:
    return {k.rsplit("}", 1)[-1].lower(): v for k, v in el.attrib.items()}


def _check_totals(root_el, failing: dict[int, int], path: Path) -> None:
    """Refuse a report whose suites claim more tests, or more failures and errors, than their
    testcases show: e.g. `<testsuite tests="3" failures="2">` around one passing testcase.
    Fewer is allowed (pytest counts a test failing in its call and its teardown once)."""
    for suite in (el for el in root_el.iter() if _local(el) in ("testsuite", "testsuites")):
        attrs = _attrs(suite)
        tests, failures, errors = (_count(attrs.get(k), k, path) for k in ("tests", "failures", "errors"))
        cases = [id(el) for el in suite.iter() if _local(el) == "testcase"]
        failed = sum(failing[c] for c in cases)
        if tests > len(cases) or failures + errors > failed:
            label = f'<{_local(suite)} name="{suite.get("name")}">' if suite.get("name") else f"<{_local(suite)}>"
            raise JUnitError(f"the JUnit XML report {path} contradicts itself: {label} says {tests} tests, "
                             f"{failures} failures and {errors} errors, but holds {len(cases)} testcases with "
                             f"{failed} failures and errors; it is not trusted as a pass")


def _count(value: str | None, name: str, path: Path) -> int:
    if value is None or not value.strip():
        return 0
    try:
        return int(value.strip())
    except ValueError:
        raise JUnitError(f'the JUnit XML report {path} cannot be read: a suite\'s {name}="{value[:40]}" '
                         "is not a count") from None
