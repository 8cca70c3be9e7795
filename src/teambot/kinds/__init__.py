"""Stage kinds: what a stage does in one executor attempt, behind one protocol (base.py).

`StageConfig.kind` names the kind; registry.py maps each name to its object (plain, sync,
command, review, acceptance). Review and acceptance loops run through a `StageWork`
(kinds/context.py), which calls runtimes, saves every step's text under iterations/<STAGE>/
and commits the stage record after each step, so a resumed run continues at the step it had
reached.
"""
