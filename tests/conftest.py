"""Fixtures of the tests that grade submissions (tests/grading_support.py)."""

from grading_support import gradescope_schema, graded_once, reference, shared_dir, template  # noqa: F401 - fixtures

# Files of one test that takes minutes (a virtual environment installed from the package index):
# collected first, so that `-n 2 --dist loadfile` starts them first instead of ending on them.
STARTED_FIRST = ("test_readme_commands.py",)


def pytest_collection_modifyitems(items) -> None:
    items.sort(key=lambda item: item.path.name not in STARTED_FIRST)  # stable: the rest keeps its order
