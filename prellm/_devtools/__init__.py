"""Checks of the package's own shape, run by the tests and CI (not part of the public API)."""
