"""The same grades and the same feedback as the last reviewed grader, for every submission of the corpus.

tests/corpus_reports.json holds the digest of each report.json the project's tests produce, normalised
(tests/corpus_identity.py: no times, paths, random ids or protections). The faulty, broken and
alternative submissions, the reference and the template are graded here if no other test has yet (the
same runs as tests/test_grading.py: shared, graded once); every other report of the session that is
already written (hostile submissions, English runs, process mode) is compared too.
"""

from __future__ import annotations

from corpus_identity import digest, recorded, reports
from submissions.faults import GRADED, materialise


def test_every_report_is_the_one_recorded(graded_once, shared_dir) -> None:
    expected = recorded()
    graded_once("reference", "reference")
    graded_once("template", "student_template")
    for entry in GRADED:
        graded_once(entry.name, lambda directory, _reports, entry=entry: materialise(entry, directory))
    found = {key: digest(report, shared_dir) for key, report in reports(shared_dir).items()}
    required = {"reference", "template", *(entry.name for entry in GRADED)}
    assert required <= set(expected), f"not recorded: {sorted(required - set(expected))}"
    differing = sorted(key for key in found if key in expected and found[key] != expected[key])
    assert not differing, (f"reports changed: {differing}; see how with `python tests/corpus_identity.py diff "
                           f"{shared_dir}`, and record them with `... record` if the change is meant")
