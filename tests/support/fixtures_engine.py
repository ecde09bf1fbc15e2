"""Fixtures of the engine area (registered in tests/conftest.py)."""
