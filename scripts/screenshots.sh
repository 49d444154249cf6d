#!/usr/bin/env bash
# Refreshes the README's console screenshots (docs/console-*.png) with real renders: the
# console's browser tests (headless chromium) write them when ALERTMEDIC_SCREENSHOTS is set.
set -euo pipefail
cd "$(dirname "$0")/.."
ALERTMEDIC_SCREENSHOTS="$PWD/docs" .venv/bin/pytest -q -p no:cacheprovider tests/console/test_browser.py \
  -k "approve_from_the_console or open_incident or phone_width"
