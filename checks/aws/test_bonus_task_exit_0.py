"""Checkpoint bonus_task_exit_0 (bonus step 4), aws: an S3-mode classifier task ended with exit code 0.

Reads: ECS ListTasks/DescribeTasks (stopped image-classifier tasks whose command override
passes two s3:// URIs; ECS keeps them about an hour). When ECS no longer shows the run,
CloudTrail's RunTask event (read-only) proves it was launched, with its command: the run
counts as successful if its output object exists in S3 and was written after the run started
(the classifier writes it only on success, then exits 0). Verified at stage part2.
"""

from datetime import timedelta

import pytest

from grader.tiers.aws import lookup
from grader.feedback import expect, fail

pytestmark = pytest.mark.stage("part2")


def _output_written_after(world, run) -> bool:
    uri = [arg for arg in run.command if arg.startswith("s3://")][-1]
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    found = lookup.s3_object(world, bucket, key) if key else None
    written = found[0].get("LastModified") if found else None
    # S3 keeps LastModified to the second: one second of tolerance.
    return bool(written and run.started and written >= run.started - timedelta(seconds=1))


def test_s3_task_exit_code_0(world):
    runs = [run for run in lookup.classifier_runs(world) if run.s3_mode]
    if not runs:
        fail("Aucune tâche du classificateur lancée en mode S3 (commande « python classifier.py s3://… s3://… ») : "
             "exécutez run_s3_classification_task (bonus, étape 4).",
             "No classifier task run in S3 mode (command \"python classifier.py s3://… s3://…\"): run your "
             "run_s3_classification_task (bonus, step 4).", expected="s3://… s3://…", seen=lookup.NOTHING)
    visible = [run for run in runs if run.visible_in_ecs]
    world.note(tasks=[{"task": r.task_arn, "exit_code": r.exit_code, "in_ecs": r.visible_in_ecs,
                                          "command": r.command, "started": r.started} for r in runs[:5]])
    if any(run.exit_code == 0 for run in visible):
        return
    if visible:
        latest = visible[0]
        fail(f"La tâche en mode S3 s'est arrêtée avec le code de sortie {latest.exit_code} "
             f"({latest.stopped_reason or 'sans raison'}) : lisez ses logs.",
             f"The S3-mode task stopped with exit code {latest.exit_code} "
             f"({latest.stopped_reason or 'no reason'}): read its logs.",
             expected=0, seen={"exitCode": latest.exit_code, "stoppedReason": latest.stopped_reason})
    expect(any(_output_written_after(world, run) for run in runs),
           "La tâche en mode S3 n'est plus visible dans ECS (environ une heure) et aucun résultat n'a été écrit dans "
           "S3 après son lancement : elle a probablement échoué. Relancez-la puis la vérification dans l'heure.",
           "The S3-mode task is no longer shown by ECS (about an hour) and no result was written to S3 after it "
           "started: it probably failed. Run it again, then the checks within the hour.",
           expected="exitCode 0", seen=[r.command for r in runs[:3]])
