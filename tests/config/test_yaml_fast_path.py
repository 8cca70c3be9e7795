"""The libyaml composer (used when PyYAML has it) reads every file exactly as the pure-Python one does."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from teambot.config import yamlsafe
from teambot.config.loader import DEFAULT_STAGES

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml")

SAMPLES = [
    "stages:\n  A: {work_agent: a}\n  B:\n    work_agent: b\n    depends_on: [A]\nstage_order: [A, B]\n",
    "stages:\r\n  A: {x: 1}\r\n  A: {x: 2}\r\nstage_order: [A]\r\n",  # CRLF, a duplicate key
    "base: &b {work_agent: a, timeout: 30}\nstages:\n  A: {<<: *b, description: 'caf\u00e9 \u2603 \U0001f600'}\nstage_order: [A]\n",
    "stages:\n  ? complex\n  : 1\n  1: int key\n  true: bool key\n  2024-01-01: date key\n",
    "a: " + "[" * 70 + "]" * 70 + "\n",  # deeper than the fast path takes: the Python loader composes it
    "a: [1, 2\n",  # invalid
    "a: b: c\n",  # invalid
    "%YAML 1.1\n---\na: 1\n...\n",
    "--- a\n--- b\n",  # two documents
    "a: !!binary aGVsbG8=\nb: !!float 1e3\nc: 0o17\nd: 0x1f\ne: .nan\n",
    "a: |\n  literal\n   text\nb: >-\n  folded\n  text\n",
    "a: 'it''s'\nb: \"tab\\there\"\nc: \u2028d\n",
]


def _both(text: str) -> tuple[object, object]:
    raw = text.encode("utf-8")
    fast = yamlsafe._FAST_LOADER
    try:
        yamlsafe._FAST_LOADER = None
        slow_doc, slow_problems = yamlsafe.parse(raw)
    finally:
        yamlsafe._FAST_LOADER = fast
    fast_doc, fast_problems = yamlsafe.parse(raw)

    def seen(doc, problems):
        if doc is None:
            return None, [str(p) for p in problems]
        return (repr(doc.data), sorted(doc.positions._marks.items(), key=repr)), [str(p) for p in problems]
    return seen(fast_doc, fast_problems), seen(slow_doc, slow_problems)


@pytest.mark.parametrize("text", SAMPLES)
def test_fast_and_pure_python_loaders_agree(text: str) -> None:
    """Data, key positions and problems are identical whichever composer read the file."""
    fast, slow = _both(text)
    assert fast == slow


def test_default_workflow_reads_the_same() -> None:
    """The packaged default stages.yaml gives the same document through both composers."""
    fast, slow = _both(DEFAULT_STAGES.read_text(encoding="utf-8"))
    assert fast == slow and fast[0] is not None


@settings(max_examples=150, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=20),
       st.sampled_from([None, True, False]))
def test_random_documents_agree(value: object, flow: bool | None) -> None:
    """Random documents (block and flow style) read the same through both composers."""
    text = yaml.safe_dump({"root": value}, default_flow_style=flow, allow_unicode=True)
    fast, slow = _both(text)
    assert fast == slow


def test_fast_composer_takes_plain_files_and_leaves_deep_ones() -> None:
    """A plain stages file is composed by libyaml; one nested past the limit by the Python loader."""
    node, loader = yamlsafe._compose(SAMPLES[0])
    assert isinstance(loader, yaml.CSafeLoader) and node is not None
    node, loader = yamlsafe._compose(SAMPLES[4])
    assert not isinstance(loader, yaml.CSafeLoader) and node is not None
