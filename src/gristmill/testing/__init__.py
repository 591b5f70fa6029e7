"""Helpers for tests of gristmill and of code built on it (no test framework required)."""
