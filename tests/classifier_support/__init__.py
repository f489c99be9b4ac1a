"""Shared helpers of the classifier tests (tests/test_classifier*.py)."""
