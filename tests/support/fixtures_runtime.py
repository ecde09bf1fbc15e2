"""Fixtures of the runtime area (registered in tests/conftest.py)."""
