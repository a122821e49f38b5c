"""`python -m ui`: the staff console without going through `branch-teller`."""

from __future__ import annotations

from ui.console_cli import main

raise SystemExit(main())
