"""Fixtures of the tests that grade submissions (tests/grading_support.py)."""

from grading_support import gradescope_schema, graded_once, reference, shared_dir, template  # noqa: F401 - fixtures
