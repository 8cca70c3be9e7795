"""Task stages: a plan's tasks run in parallel, each in its own git worktree (issue 10)."""
