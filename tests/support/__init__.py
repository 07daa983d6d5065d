"""Helpers shared by the adapter and interop tests."""
