"""Stage kinds beyond one agent call: review loops, acceptance loops and command stages.

Each kind runs inside one executor attempt through a `StageWork` (kinds/context.py), which
calls runtimes, saves every step's text under iterations/<STAGE>/ and commits the stage
record after each step, so a resumed run continues at the step it had reached.
"""
