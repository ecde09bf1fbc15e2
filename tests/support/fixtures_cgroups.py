"""Fixtures of the cgroups area (registered in tests/conftest.py)."""
