"""Self-tests of tests/fakes load the fakes' fixtures exactly like the main suite will."""

pytest_plugins = ["tests.fakes.fixtures"]
