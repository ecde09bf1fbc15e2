"""Fixtures of the images area (registered in tests/conftest.py)."""
