"""Checkpoint classification_result (step 12), aws: the classifier ran on ECS and logged its result.

Reads: ECS ListTasks/DescribeTasks (stopped tasks of the image-classifier family: ECS keeps
them about an hour), CloudTrail LookupEvents (RunTask: the runs ECS no longer shows),
ECS DescribeTaskDefinition (the run's awslogs options), CloudWatch Logs GetLogEvents (the
stream `ecs/image-classifier/<task id>` of /ecs/ecs-lab/image-classifier, kept 7 days),
DescribeLogStreams (fallback when no run is known any more).

URL-mode runs (step 12, `ecs-lab run-classifier`); the bonus's S3-mode runs are graded by
bonus_task_exit_0. When the runs are older than ECS's memory, their exit code cannot be read
any more: that check is then "not graded" (CloudTrail proves the run, not its exit code),
and the result document in the log stream, printed only by a successful run, decides.
Verified at stage part2.
"""

import pytest

from grader.tiers.aws import lookup
from grader.feedback import expect, fail

pytestmark = pytest.mark.stage("part2")

RUN_HINT = "ecs-lab run-classifier"
MAX_STREAMS = 5


@pytest.fixture(scope="module")
def runs(world):
    return [run for run in lookup.classifier_runs(world) if not run.s3_mode]


def _no_run():
    fail(f"Aucune tâche {lookup.CLASSIFIER_FAMILY} lancée dans {lookup.CLUSTER} (ni arrêtée récemment, ni dans "
         f"l'historique CloudTrail) : exécutez « {RUN_HINT} » (étape 12).",
         f"No {lookup.CLASSIFIER_FAMILY} task run in {lookup.CLUSTER} (neither stopped recently nor in the "
         f"CloudTrail history): run \"{RUN_HINT}\" (step 12).", expected="RunTask image-classifier", seen=lookup.NOTHING)


def test_task_stopped_with_exit_code_0(world, runs):
    visible = [run for run in runs if run.visible_in_ecs]
    if not runs:
        _no_run()
    if not visible:
        when = f"{runs[0].started:%Y-%m-%d %H:%M} UTC" if runs[0].started else "?"
        pytest.skip(world.say(
            f"Non vérifiable : ECS ne garde les tâches arrêtées qu'environ une heure, et la dernière tâche "
            f"(lancée le {when}, d'après CloudTrail) n'y est plus ; relancez « {RUN_HINT} » puis la "
            "vérification dans l'heure.",
            f"Not verifiable: ECS keeps stopped tasks for about an hour only, and the latest task (started "
            f"{when}, according to CloudTrail) is gone; run \"{RUN_HINT}\" again, then the checks within the hour."))
    succeeded = [run for run in visible if run.exit_code == 0]
    latest = visible[0]
    world.note(tasks=[{"task": r.task_arn, "exit_code": r.exit_code,
                                              "stopped_reason": r.stopped_reason, "started": r.started}
                                             for r in visible[:5]])
    expect(succeeded,
           f"La tâche {lookup.CLASSIFIER_FAMILY} s'est arrêtée avec le code de sortie {latest.exit_code} "
           f"({latest.stopped_reason or 'sans raison'}) : lisez ses logs (ecs/image-classifier/"
           f"{lookup.task_id(latest.task_arn)}).",
           f"The {lookup.CLASSIFIER_FAMILY} task stopped with exit code {latest.exit_code} "
           f"({latest.stopped_reason or 'no reason'}): read its logs (ecs/image-classifier/"
           f"{lookup.task_id(latest.task_arn)}).",
           expected=0, seen={"exitCode": latest.exit_code, "stoppedReason": latest.stopped_reason})


def test_result_document_in_log_stream(world, runs):
    seen = {}
    streams: list[tuple[str, str, list[str] | None]] = [lookup.run_log_lines(world, run) for run in runs[:MAX_STREAMS]]
    if not runs:  # no run known any more (ECS forgot it, CloudTrail has none): the log group's newest streams
        for found in lookup.recent_streams(world, lookup.CLASSIFIER_LOG_GROUP,
                                            f"ecs/{lookup.CLASSIFIER_CONTAINER}/", MAX_STREAMS):
            name = found["logStreamName"]
            streams.append((lookup.CLASSIFIER_LOG_GROUP, name,
                            lookup.log_lines(world, lookup.CLASSIFIER_LOG_GROUP, name)))
    if not streams:
        _no_run()
    for group, stream, lines in streams:
        if lines is None:
            seen[stream] = world.say("flux absent", "no such stream")
            continue
        document = lookup.result_document(lines)
        problems = lookup.result_problems(document, world.lang)
        if not problems and not str((document.get("input") or {}).get("url", "")).startswith("s3://"):
            world.note(log_group=group, log_stream=stream,
                     top=(document.get("predictions") or [{}])[0].get("label"))
            return
        seen[stream] = problems if lines else world.say("flux vide", "empty stream")
    fail(f"Aucun document résultat de classification dans les logs du classificateur ({lookup.CLASSIFIER_LOG_GROUP}) : "
         "la tâche a-t-elle réussi ? Lisez son flux de logs.",
         f"No classification result document in the classifier's logs ({lookup.CLASSIFIER_LOG_GROUP}): did the "
         "task succeed? Read its log stream.",
         expected='{"predictions": [...], "processing": {"success": true}}', seen=seen)
