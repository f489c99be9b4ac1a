"""The pytest plugin that grades: registered as the entry point ``grader.plugin`` (and by the root
conftest.py). Grading is active only when checks under checks/ are collected, so the project's own
tests (tests/) run as plain pytest.

Hooks only wire things up, one concern a module: ``options`` (the options and the guard rails),
``collection`` (markers, the tiers selected, the run's state), ``outcomes`` (one result per check,
carried by pytest's own report, so that ``pytest -n`` gives the serial grade), ``session`` (the report
built and written once, at the end), ``terminal`` (what the terminal shows); ``state`` is what they
and the tiers share. The student's code never runs here (grader.worker): whatever a check raises
other than its verdict (``CheckFailed``) is the grader's problem and leaves that check "not graded".
"""

pytest_plugins = ["grader.plugin.options", "grader.plugin.collection", "grader.plugin.outcomes",
                  "grader.plugin.session", "grader.plugin.terminal"]
