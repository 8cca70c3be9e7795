"""`python -m teambot`."""

from __future__ import annotations

import sys

from teambot.cli.main import main

sys.exit(main())
