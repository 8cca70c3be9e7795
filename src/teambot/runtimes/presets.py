"""Ready-made argv for the common agent CLIs, so `runtime: command` + `preset: claude` works.

Each preset is what we believe is the CLI's documented non-interactive mode, with
permissions that let the agent edit files in the project but not run arbitrary commands
without asking (where the CLI can say so). docs/runtimes.md prints every argv and how to
adapt it; a project that needs other flags copies the argv into `command.argv` or
`agents.<id>.argv` in teambot.yaml and edits it.

Placeholders (substituted per stage, each a whole or partial argv element, never a shell):
{prompt_file} {model} {run_dir} {artifacts_dir} {project_dir} {stage} {agent} {feature}.

The flags were checked against each CLI's real `--help` (versions in docs/runtimes.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PLACEHOLDERS = ("prompt_file", "model", "run_dir", "artifacts_dir", "project_dir", "stage", "agent", "feature")


@dataclass(frozen=True)
class Preset:
    """An agent CLI's argv; `model_args` go in after the first `head` words when a model is set."""

    name: str
    argv: tuple[str, ...]
    prompt_via: str  # "stdin" or "file"
    model_args: tuple[str, ...] = ("--model", "{model}")
    head: int = 1
    note: str = ""
    # appended per run when the project is not inside a git work tree (see in_git_work_tree)
    outside_git: tuple[str, ...] = ()
    # the machine-readable output the argv asks for, with the answer and the usage (runtimes/usage.py)
    report: str | None = None

    def command(self, model: str | None) -> list[str]:
        """The argv, with the model flags when a model is configured (placeholders left in)."""
        if not model:
            return list(self.argv)
        return [*self.argv[: self.head], *self.model_args, *self.argv[self.head:]]


_FROM_FILE = "Read the file {prompt_file} and carry out the task it describes, completely and without asking questions."

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # Claude Code headless mode: the prompt is read from stdin when -p has no argument.
        # acceptEdits lets it write files without a prompt; shell commands stay denied.
        # --output-format json: one result object with the answer, the tokens and the cost.
        Preset("claude", ("claude", "-p", "--output-format", "json", "--permission-mode", "acceptEdits",
                          "--add-dir", "{run_dir}"), "stdin",
               note="for shell access add --allowedTools or use --dangerously-skip-permissions in a sandbox",
               report="claude-json"),
        # Codex non-interactive mode: `-` reads the prompt from stdin; progress goes to stderr
        # and only the final message to stdout. workspace-write lets it edit the project.
        # --json: stdout is JSONL events instead, the answer and the token usage among them.
        Preset("codex", ("codex", "exec", "--sandbox", "workspace-write", "--skip-git-repo-check",
                         "--color", "never", "--json", "-"), "stdin", head=2,
               note="--full-auto on older releases; --add-dir {run_dir} when the workspace is outside the project",
               report="codex-jsonl"),
        # Gemini CLI: -p forces headless mode and is appended to stdin, so the stage prompt goes
        # on stdin and -p says what to do with it. auto_edit approves file edits only.
        # --skip-trust: in a folder not yet trusted gemini exits 55 in headless mode (and would
        # silently downgrade auto_edit); it trusts the project for this session only.
        # --output-format json: one object with the answer (`response`) and token stats per model.
        Preset("gemini", ("gemini", "--skip-trust", "--approval-mode", "auto_edit", "--output-format", "json", "-p",
                          "Carry out the task described above, completely and without asking questions."), "stdin",
               note="older releases: replace --approval-mode auto_edit with --yolo", report="gemini-json"),
        # Copilot CLI takes the prompt only as -p's argument (argv is limited to 128 KiB per
        # element on Linux), so it is told to read the prompt file. -s prints only the answer.
        Preset("copilot", ("copilot", "-s", "--allow-all-tools", "--add-dir", "{run_dir}", "-p", _FROM_FILE), "file"),
        # aider: --message-file sends one message and exits; no git commits behind teambot's back.
        # --yes-always also says yes to adding URLs found in the prompt, installing Playwright,
        # the analytics opt-in, and opening release notes or (for a model it does not know, such
        # as a local one) the model-warnings page in a browser: those are all turned off.
        # Outside a git repository it would `git init` the project: --no-git there.
        Preset("aider", ("aider", "--message-file", "{prompt_file}", "--yes-always", "--no-auto-commits",
                         "--no-detect-urls", "--disable-playwright", "--no-analytics", "--no-show-release-notes",
                         "--no-show-model-warnings", "--no-pretty", "--no-stream", "--no-check-update"), "file",
               outside_git=("--no-git",)),
    )
}


def in_git_work_tree(path: Path) -> bool:
    """Whether `path` is inside a git work tree: it or a parent holds `.git` (a directory, or the
    file of a linked worktree or submodule), which is how git and aider's GitPython find it."""
    path = path.resolve()
    # os.path.exists: an unreadable parent counts as no repository instead of raising
    return any(os.path.exists(folder / ".git") for folder in (path, *path.parents))
