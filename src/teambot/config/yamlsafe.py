"""Safe YAML for stages files: UTF-8, alias-bomb and nesting limits, duplicate keys, positions.

PyYAML's `safe_load` keeps the last of two equal keys without a word and expands aliases
into arbitrarily large trees for whoever walks the result (pydantic, json). So the file is
composed into a node graph first, measured and checked, and only then turned into Python
objects; the same nodes give every key path its line and column.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from teambot.config.problems import KeyPath, Positions, Problem

MAX_NODES = 100_000  # expanded size; the default workflow has about 400
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class Document:
    """The parsed document and where each of its key paths is written."""

    data: object
    positions: Positions


class _Refused(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def parse(raw: bytes, expected: str = "a mapping with 'stages' and 'stage_order'") -> tuple[Document | None, list[Problem]]:
    """Parse `raw` safely. Returns (None, problems) when there is no usable document.

    `expected` says what the file should hold, for the message about an empty file.

    Duplicate keys are problems too, but they still leave a document (the last key wins, as
    in PyYAML) so the rest of the file can be checked in the same pass.
    """
    try:
        text = _decode(raw)
        if not text.strip():
            raise _Refused(Problem((), f"the file is empty; expected {expected}"))
        node, loader = _compose(text)
        try:
            if node is None:
                raise _Refused(Problem((), f"the file has no content (only comments); expected {expected}"))
            _check_size(node, aliased="*" in text)
            duplicates = _duplicate_keys(node)
            data = _construct(loader, node)
            return Document(data, Positions(_positions(loader, node))), duplicates
        finally:
            loader.dispose()
    except _Refused as refused:
        return None, [refused.problem]


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start]
        raise _Refused(Problem((), f"not valid UTF-8 (byte 0x{byte:02x}); save the file as UTF-8",
                               line, column)) from None


# libyaml's composer, when PyYAML was built with it: about 8x faster on a 1000-stage file. It is
# used only for printable text and shallow documents (libyaml refuses nesting past 1000 levels, so
# its recursion stays bounded; the constructors recurse in Python), and only when it succeeds: any
# other document is composed again by the pure-Python loader, whose messages users see.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)
_FAST_DEPTH = 64


def _compose(text: str) -> tuple[Node | None, yaml.SafeLoader]:
    if _FAST_LOADER is not None and yaml.reader.Reader.NON_PRINTABLE.search(text) is None:
        fast = _FAST_LOADER(text)
        try:
            node = fast.get_single_node()
        except Exception:  # noqa: BLE001 - refused: the pure-Python loader below says why
            node = None
        else:
            if node is None or _shallow(node):
                return node, fast
        fast.dispose()
    try:
        loader = yaml.SafeLoader(text)  # checks for unprintable characters up front
        return loader.get_single_node(), loader
    except yaml.MarkedYAMLError as exc:
        raise _Refused(_marked(exc, "invalid YAML")) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise _Refused(Problem((), f"invalid YAML: unacceptable character #x{exc.character:04x}"
                                   " (control characters are not allowed)", line, column)) from None
    except yaml.YAMLError as exc:
        raise _Refused(Problem((), f"invalid YAML: {exc}")) from None
    except RecursionError:
        raise _Refused(Problem((), "nesting is too deep (lists or mappings inside each other "
                                   "hundreds of levels deep); refusing to parse")) from None


def _shallow(root: Node) -> bool:
    """No list or mapping nested more than _FAST_DEPTH deep (each shared node walked once)."""
    seen: set[int] = set()
    stack: list[tuple[Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _FAST_DEPTH:
            return False
        if id(node) in seen or isinstance(node, ScalarNode):
            continue
        seen.add(id(node))
        stack.extend((child, depth + 1) for child in _children(node))
    return True


def _marked(exc: yaml.MarkedYAMLError, what: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    reason = exc.problem or exc.context or "unreadable"
    if exc.context and exc.problem:
        if exc.context.startswith("while"):
            at = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
            reason += f" ({exc.context}{at})"
        else:  # "expected a single document in the stream" + "but found another document"
            reason = f"{exc.context}, {exc.problem}"
    if mark is None:
        return Problem((), f"{what}: {reason}")
    return Problem((), f"{what}: {reason}", mark.line + 1, mark.column + 1)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_size(root: Node, *, aliased: bool = True) -> None:
    """Refuse alias bombs: count the nodes of the fully expanded tree, each shared node once.

    Memoised on node identity, so a billion-node expansion is measured in a few steps. A text
    without a `*` has no alias, so no node is shared and a plain count is the expanded size.
    """
    if not aliased and _count(root) <= MAX_NODES:
        return
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_NODES:
                mark = node.start_mark
                raise _Refused(Problem((), f"aliases expand to more than {MAX_NODES:,} values "
                                           "(an alias bomb?); refusing to load", mark.line + 1, mark.column + 1))
            continue
        if key in sizes:
            continue
        if key in on_path:
            mark = node.start_mark
            raise _Refused(Problem((), "an alias refers to a list or mapping that contains it "
                                       "(recursive alias)", mark.line + 1, mark.column + 1))
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _count(root: Node) -> int:
    """The nodes of a tree none of whose nodes is shared."""
    count, stack = 0, [root]
    while stack:
        node = stack.pop()
        count += 1
        if type(node) is MappingNode:
            for pair in node.value:
                stack.extend(pair)
        elif type(node) is SequenceNode:
            stack.extend(node.value)
    return count


def _duplicate_keys(root: Node) -> list[Problem]:
    """A problem for each key given twice in one mapping (PyYAML would keep the last one)."""
    problems: list[Problem] = []
    seen: set[int] = set()
    stack: list[tuple[Node, KeyPath]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((child, path + (i,)) for i, child in enumerate(node.value))
        elif isinstance(node, MappingNode):
            first: dict[tuple[str, str], ScalarNode] = {}
            for key, value in node.value:
                if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                    stack.append((value, path))
                    continue
                earlier = first.setdefault((key.tag, key.value), key)
                if earlier is not key:
                    problems.append(Problem(
                        path + (key.value,),
                        f"duplicate key '{key.value}' (also defined at line {earlier.start_mark.line + 1}; "
                        "only one definition may be given)",
                        key.start_mark.line + 1, key.start_mark.column + 1))
                stack.append((value, path + (key.value,)))
    return problems


def _construct(loader: yaml.SafeLoader, node: Node) -> object:
    try:
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _Refused(_marked(exc, "cannot load a value")) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        reason = str(exc).split(";")[0]  # drop Python's advice on sys.set_int_max_str_digits
        raise _Refused(Problem((), f"cannot load a value: {reason}")) from None


def _positions(loader: yaml.SafeLoader, root: Node) -> dict[KeyPath, tuple[int, int]]:
    """Key path -> (line, column) of the key (or list item) after merges were applied.

    Walks the expanded tree, which _check_size has bounded.
    """
    marks: dict[KeyPath, tuple[int, int]] = {}
    stack: list[tuple[Node, KeyPath]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, SequenceNode):
            for i, child in enumerate(node.value):
                marks[path + (i,)] = (child.start_mark.line + 1, child.start_mark.column + 1)
                stack.append((child, path + (i,)))
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                name = _key(loader, key)
                if name is None:
                    continue
                marks[path + (name,)] = (key.start_mark.line + 1, key.start_mark.column + 1)
                stack.append((value, path + (name,)))
    return marks


def _key(loader: yaml.SafeLoader, key: Node) -> str | int | None:
    if not isinstance(key, ScalarNode):
        return None
    if key.tag == _STR_TAG:
        return key.value
    try:
        value = loader.construct_object(key, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        return None
    return value if isinstance(value, str | int) else str(value)
