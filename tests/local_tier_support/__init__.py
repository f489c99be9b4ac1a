"""Shared helpers of the local tier's project tests (tests/test_local_tier*.py)."""
