"""The stage plans `status` compares a run with, without loading stages.yaml when its bytes are known.

Loading a stages file (safe YAML with positions, structure checks, pydantic) costs far more
than reading the run: about 140 ms for 1000 stages. What stale detection needs of it is small
(provenance.StagePlan: each stage's fingerprint, what its prompt reads, the artifacts it is
given), and it is a function of the file's bytes and of teambot's code alone (templates are
not checked here). So the plans are kept in the user's cache directory under a key made of
both: the sha256 of the file's bytes and a stamp of teambot's code (version, and size and
mtime of every module). A file whose bytes are unchanged gives the same plans: the file is
read and hashed, not parsed. Anything wrong with an entry (unreadable, malformed, another
key) is a miss, and a miss is the full load: the cache can make `status` faster, never
different. See .agent-tracking/design/status-fast-path.md.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from teambot.provenance import StagePlan, StageView
from teambot.statusmemo import cache_root, code_stamp  # shared with status's memo, which runs before any import

FORMAT = 1
MAX_STAGES_BYTES = 1 << 20  # config.loader.MAX_BYTES: a larger file is the full load's to refuse
KEEP = 64  # entries kept in the cache directory (the oldest go first)


def stage_plans(stages_file: Path, project_dir: Path) -> dict[str, StagePlan]:
    """stage -> StagePlan in workflow order, for the stages file as it is now; ConfigError if it cannot be loaded."""
    raw = _read(stages_file)
    digest = hashlib.sha256(raw).hexdigest() if raw is not None else None
    key = hashlib.sha256(f"{FORMAT}\n{code_stamp()}\n{digest}".encode()).hexdigest() if digest else None
    if key is not None and (plans := _load(key)) is not None:
        return plans
    from teambot.config import load_workflow
    from teambot.provenance import stage_plans as plans_of

    workflow = load_workflow(stages_file, project_dir=project_dir, check_templates=False)
    plans = plans_of(workflow)
    if key is not None and workflow.sha256 == digest:  # not edited between the two reads
        _save(key, plans)
    return plans


def _read(path: Path) -> bytes | None:
    from teambot.errors import TeambotError
    from teambot.inputs import read_input

    try:
        return read_input(path, MAX_STAGES_BYTES, "stages file")
    except (OSError, TeambotError):  # missing, not a regular file, too big: the full load reports it
        return None


def cache_dir() -> Path | None:
    """$XDG_CACHE_HOME/teambot/stages, else ~/.cache/teambot/stages (None: no home directory)."""
    root = cache_root()
    return Path(root) / "stages" if root is not None else None


def _load(key: str) -> dict[str, StagePlan] | None:
    folder = cache_dir()
    if folder is None:
        return None
    try:
        with open(folder / f"{key[:32]}.json", "rb") as fh:
            data = json.loads(fh.read())
        if data["format"] != FORMAT or data["key"] != key:
            return None
        plans = {}
        for name, fingerprint, prompts, objective, template, agents, upstream in data["stages"]:
            if not (isinstance(name, str) and isinstance(fingerprint, str) and isinstance(prompts, bool)
                    and isinstance(objective, bool) and (template is None or isinstance(template, str))
                    and isinstance(agents, list) and all(isinstance(a, str) for a in agents)
                    and isinstance(upstream, list) and all(_pair(u) for u in upstream)):
                return None
            plans[name] = StagePlan(fingerprint, StageView(prompts, objective, template, tuple(agents)),
                                    tuple((p, a) for p, a in upstream))
        return plans
    except (OSError, ValueError, KeyError, TypeError, RecursionError):  # missing or not ours: a miss
        return None


def _pair(item: object) -> bool:
    return isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)


def _save(key: str, plans: dict[str, StagePlan]) -> None:
    """Write the entry (temp file, then rename: a reader sees all of it or none); a failure only costs speed."""
    folder = cache_dir()
    if folder is None:
        return
    stages = [[name, p.fingerprint, p.view.prompts, p.view.include_objective, p.view.prompt_template,
               list(p.view.agents), [list(u) for u in p.upstream]] for name, p in plans.items()]
    blob = json.dumps({"format": FORMAT, "key": key, "stages": stages}, separators=(",", ":")).encode()
    target = folder / f"{key[:32]}.json"
    temp = folder / f".{key[:32]}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(temp, "xb") as fh:
            fh.write(blob)
        os.replace(temp, target)
        _prune(folder)
    except OSError:
        try:
            temp.unlink(missing_ok=True)
        except OSError:
            pass


def _prune(folder: Path) -> None:
    entries = []
    for entry in os.scandir(folder):
        if entry.name.endswith(".json"):
            entries.append((entry.stat().st_mtime_ns, entry.path))
    for _, path in sorted(entries)[:-KEEP]:
        os.unlink(path)
