"""Fixtures of the tests that grade submissions (tests/grading_support.py)."""

from grading_support import gradescope_schema, graded_once, reference, shared_dir, template  # noqa: F401 - fixtures

# Files whose tests take minutes (a virtual environment installed from the package index, LAB.md's
# whole handout against the sandbox): collected first, so that `-n 2 --dist loadfile` starts them
# first, instead of ending on them (scripts/run-tests.sh keeps this order: --no-loadscope-reorder; xdist
# would otherwise start with the files that hold the most tests).
STARTED_FIRST = ("test_readme_commands.py", "test_lab_handout.py", "test_grading_on_ecs.py")


def pytest_collection_modifyitems(items) -> None:
    items.sort(key=lambda item: item.path.name not in STARTED_FIRST)  # stable: the rest keeps its order
