"""teambot: a team of AI coding agents run through a staged, crash-safe workflow."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
