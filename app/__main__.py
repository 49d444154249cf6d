"""`python -m app` is the `alertmedic` command."""

import sys

from app.cli import main

sys.exit(main())
