"""Root conftest: wires the grading plugin (tiers, submission, grades, reports) into pytest."""

pytest_plugins = ["grader.plugin"]
