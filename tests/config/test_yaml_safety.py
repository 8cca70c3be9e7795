"""`teambot validate` on files that are not a sane YAML mapping: refused with a clear line, never a traceback."""

from __future__ import annotations

import time
from pathlib import Path

from tests.config.conftest import base_config, rejected, validate
from tests.helpers import teambot


def test_file_over_one_mib_is_refused_before_parsing(tmp_path: Path, write_stages) -> None:
    """A stages file larger than 1 MiB is refused with its size."""
    path = write_stages("#" * (1 << 20) + "\n")
    rejected(validate(path), "is 1,048,577 bytes; the limit is 1,048,576 bytes")


def test_non_utf8_file_names_the_line(tmp_path: Path, write_stages) -> None:
    """A Latin-1 file is refused as not UTF-8, with the line and column of the bad byte."""
    path = write_stages("stages:\n  A: {description: 'caf\xe9'}\nstage_order: [A]\n".encode("latin-1"))
    rejected(validate(path), f"{path}:2:24: not valid UTF-8 (byte 0xe9)")


def test_utf8_bom_is_accepted(tmp_path: Path, write_stages) -> None:
    """A UTF-8 file that starts with a byte-order mark (as some editors save) is fine."""
    import yaml

    path = write_stages(b"\xef\xbb\xbf" + yaml.safe_dump(base_config()).encode())
    assert validate(path).returncode == 0


def test_empty_file(tmp_path: Path, write_stages) -> None:
    """An empty file is refused as empty."""
    rejected(validate(write_stages("")), "the file is empty")


def test_comments_only_file(tmp_path: Path, write_stages) -> None:
    """A file with only comments is refused as having no content."""
    rejected(validate(write_stages("# nothing here\n\n")), "the file has no content (only comments)")


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path, write_stages) -> None:
    """A YAML syntax error is reported with its line and column."""
    path = write_stages("stages:\n  A:\n    work_agent: [x\n  B: {}\nstage_order: [A]\n")
    rejected(validate(path), f"{path}:4:4: invalid YAML: expected ',' or ']', but got ':'")


def test_top_level_must_be_a_mapping(tmp_path: Path, write_stages) -> None:
    """A file whose top level is a list is refused, saying what was found."""
    rejected(validate(write_stages("- SETUP\n- SPEC\n")), "the top level must be a mapping", "got a list")


def test_duplicate_keys_are_reported(tmp_path: Path, write_stages) -> None:
    """A stage defined twice and a field given twice are both reported, with both lines."""
    path = write_stages(
        "stages:\n"
        "  A:\n"
        "    work_agent: pm\n"
        "    work_agent: ba\n"
        "  A:\n"
        "    work_agent: qa\n"
        "stage_order: [A]\n"
    )
    rejected(validate(path), "2 problems in stages file",
             f"{path}:4:5: stages.A.work_agent: duplicate key 'work_agent' (also defined at line 3",
             f"{path}:5:3: stages.A: duplicate key 'A' (also defined at line 2")


def test_alias_bomb_is_refused_quickly(tmp_path: Path, write_stages) -> None:
    """A 'billion laughs' file is refused without expanding it."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = write_stages("\n".join(lines) + "\nstages: {A: {allowed_personas: *l9}}\nstage_order: [A]\n")
    start = time.monotonic()
    rejected(validate(path), "aliases expand to more than 100,000 values")
    assert time.monotonic() - start < 10


def test_recursive_alias_is_refused(tmp_path: Path, write_stages) -> None:
    """An alias inside the node it refers to is refused."""
    rejected(validate(write_stages("stages: &s {A: {x: *s}}\nstage_order: [A]\n")), ":1:9: ", "recursive alias")


def test_deep_nesting_is_refused(tmp_path: Path, write_stages) -> None:
    """Thousands of nested lists are refused, not a crash."""
    rejected(validate(write_stages("stages: " + "[" * 3000 + "]" * 3000 + "\n")), "nesting is too deep")


def test_multiple_documents_are_refused(tmp_path: Path, write_stages) -> None:
    """A second YAML document in the file is refused at its line."""
    path = write_stages("stages: {A: {}}\nstage_order: [A]\n---\nfoo: 1\n")
    rejected(validate(path), f"{path}:3:1: invalid YAML: expected a single document in the stream")


def test_python_tags_are_not_executed(tmp_path: Path, write_stages) -> None:
    """A python/object tag is refused by the safe loader (nothing runs)."""
    marker = tmp_path / "pwned"
    path = write_stages(f"stages: !!python/object/apply:os.system ['touch {marker}']\nstage_order: [A]\n")
    rejected(validate(path), ":1:9: cannot load a value: could not determine a constructor")
    assert not marker.exists()


def test_merge_keys_and_extension_keys_work(tmp_path: Path, write_stages) -> None:
    """`x-` top-level keys may hold anchors that stages merge with `<<`; errors keep their lines."""
    path = write_stages(
        "x-defaults: &d {work_agent: pm, optional: true}\n"
        "stages:\n"
        "  A: {<<: *d, description: first}\n"
        "  B:\n"
        "    <<: *d\n"
        "    work_agnt: y\n"
        "stage_order: [A, B]\n"
    )
    rejected(validate(path), "1 problem in stages file", f"{path}:6:5: stages.B.work_agnt: unknown field")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """A stages path that does not exist exits 2 saying so."""
    proc = teambot("validate", "nope.yaml", cwd=tmp_path)
    rejected(proc, "nope.yaml: cannot read stages file: No such file or directory")


def test_directory_is_not_a_stages_file(tmp_path: Path) -> None:
    """A directory given as the stages path exits 2 saying so."""
    rejected(teambot("validate", str(tmp_path), cwd=tmp_path), "is a directory, not a regular file")
