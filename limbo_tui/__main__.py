"""`python -m limbo_tui` is the `limbo-tui` command."""

import sys

from limbo_tui.cli import main

sys.exit(main())
