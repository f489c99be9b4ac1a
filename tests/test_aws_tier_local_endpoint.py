"""The aws tier against a local endpoint that lacks an API (moto has no CloudTrail LookupEvents):
what the grader cannot read is "not graded" with the reason, never the student's failure."""

from __future__ import annotations

import re

import aws_states as states
from aws_states import MotoServer
from test_aws_tier import forget_classifier_tasks, lab_complete


def test_a_missing_api_is_never_charged_to_the_student(tmp_path):
    with MotoServer(cloudtrail=False) as server:
        account = lab_complete(server)
        forget_classifier_tasks(server, account)  # only CloudTrail's history shows the runs now
        run = states.finish_tier(states.start_tier(server.environment(account), "all", tmp_path, "-q"), tmp_path)
    assert run.code == 0, run.output[-3000:]
    for checkpoint in run.report["checkpoints"]:
        for check in checkpoint["checks"]:
            if check["outcome"] == "failed":  # a verdict names the student's work, never the grader's gap
                assert not re.search(r"\(500\)|InternalError|NotImplemented|LookupEvents", check["message"]), check
    skipped = [c for cp in run.report["checkpoints"] for c in cp["checks"] if "LookupEvents" in c["message"]]
    assert skipped and all(c["outcome"] == "skipped" for c in skipped), skipped
    assert all("Problème du correcteur" in c["message"] for c in skipped)
    assert any("LookupEvents" in note for note in run.report["notes"])
