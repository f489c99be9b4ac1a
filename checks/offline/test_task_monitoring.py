"""Checkpoint task_monitoring (step 11): follow the task until it stops, and judge how it ended.

Scenarios run on the scorer's side of moto: the task's lifecycle and exit code are scripted
in moto's model, and the server answers itself where moto cannot express a case (ECS
`failures`). The scorer's virtual clock drives the polling: no check waits in real time; the
server records at which virtual time each DescribeTasks arrived, and the pauses are judged from
those times alone: however the code waits (time.sleep, a botocore waiter, an event loop, a
condition, a queue, a timer, a selector, a child process...), the same evidence, the same verdict.
"""

import re
from collections import Counter

import pytest

from standin import moto_bridge
from grader.evidence.aws_requests import Stop
from grader.feedback import Text, expect, shorten
from grader.i18n import number
from grader.student import error_text
from grader.tiers.offline.provision import register_classifier_task_definition, run_classifier_task

POLL, TIMEOUT = 10.0, 300.0
STATUSES = ("PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
            "DEPROVISIONING", "STOPPED")
BURST = 3  # describe_tasks calls at one instant still fine: a waiter's first/last poll next to a plain read
BUSY_LIMIT = 50  # calls without a pause in between: a busy loop, stopped at once (not by the CPU limit)
NO_EXCEPTION = Text("aucune exception", "no exception")


@pytest.fixture
def task_arn(account, lab):
    return run_classifier_task(account.backends, lab, register_classifier_task_definition(account.backends, lab))


@pytest.fixture
def states_last():
    """Each state of the task lasts `times` DescribeTasks calls (moto's manual progression)."""
    yield moto_bridge.task_progression
    moto_bridge.task_progression(None)


@pytest.fixture(autouse=True)
def polls(account):
    """Virtual times of the student's describe_tasks calls, as the server received them; a busy
    loop (many calls at one instant) is stopped at once."""

    def busy(_params: dict, _response: dict) -> None:
        times = [c.at for c in account.requests.of("DescribeTasks")]
        if len(times) >= BUSY_LIMIT and times[-BUSY_LIMIT] == times[-1]:
            raise Stop(Text(f"{BUSY_LIMIT} appels à describe_tasks sans aucune pause : la boucle martèle l'API ECS",
                            f"{BUSY_LIMIT} describe_tasks calls without any pause: the loop hammers the ECS API"))

    account.requests.on_call("DescribeTasks", busy)
    return lambda: [c.at for c in account.requests.of("DescribeTasks")]


def _stop_with(task_arn: str, exit_code, reason: str) -> None:
    task = moto_bridge.task_model(task_arn)
    task.containers[0].exitCode = exit_code
    task.stopped_reason = reason


def _monitor(ops, lab, task_arn):
    """The outcome of monitor_task: returned (the task) or raised (judged by each check)."""
    return ops.answer("monitor_task", lab.cluster, task_arn, poll_interval=POLL, timeout=TIMEOUT)


def test_returns_the_stopped_task_on_exit_code_0(ops, lab, task_arn, states_last):
    states_last(2)
    outcome = _monitor(ops, lab, task_arn)
    task, error = outcome.value, outcome.error
    expect(error is None, "Une tâche arrêtée avec le code de sortie 0 est un succès : aucune exception attendue.",
           "A task stopped with exit code 0 is a success: no exception expected.",
           expected=Text("la tâche (dict)", "the task (dict)"), seen=error_text(error) if error else None)
    expect(isinstance(task, dict) and task.get("taskArn") == task_arn and task.get("lastStatus") == "STOPPED",
           "monitor_task doit renvoyer la tâche finale (dict de describe_tasks, lastStatus STOPPED).",
           "monitor_task must return the final task (describe_tasks dict, lastStatus STOPPED).",
           expected={"taskArn": task_arn, "lastStatus": "STOPPED"},
           seen={k: task.get(k) for k in ("taskArn", "lastStatus")} if isinstance(task, dict) else task)


def test_polls_at_the_given_interval(ops, lab, task_arn, states_last, polls):
    states_last(2)
    _monitor(ops, lab, task_arn)
    polls = polls()
    expect(len(polls) >= 2, "La tâche doit être interrogée plusieurs fois avec describe_tasks jusqu'à STOPPED.",
           "The task must be polled with describe_tasks until STOPPED.", expected=Text(">= 2 appels", ">= 2 calls"), seen=len(polls))
    burst = max(Counter(polls).values())
    expect(burst <= BURST,
           "Il faut attendre entre deux appels à describe_tasks (time.sleep(poll_interval)) : sinon la "
           "boucle martèle l'API ECS.",
           "Wait between two describe_tasks calls (time.sleep(poll_interval)), or the loop hammers the ECS API.",
           expected=Text(f"au plus {BURST} appels sans pause", f"at most {BURST} calls without a pause"),
           seen=Text(f"{burst} appels sans pause", f"{burst} calls without a pause"))
    # The pauses, as the server saw them: the virtual time between two polls (calls at one instant
    # are the bursts judged above).
    pauses = [round(later - earlier, 3) for earlier, later in zip(polls, polls[1:]) if later > earlier]
    short = [p for p in pauses if p < POLL / 2]
    expect(not short, "Les pauses doivent durer poll_interval (le paramètre reçu), pas une durée fixe plus courte.",
           "Pauses must last poll_interval (the parameter), not a shorter fixed time.",
           expected=_seconds(POLL), seen=short[:5])
    too_long = [p for p in pauses if p > POLL + 1]
    expect(not too_long, "Les pauses ne doivent pas dépasser poll_interval.",
           "Pauses must not exceed poll_interval.", expected=_seconds(POLL, "<= "), seen=too_long)


def test_prints_each_status_change_once(ops, lab, task_arn, states_last):
    states_last(3)
    lines = _monitor(ops, lab, task_arn).stdout.splitlines()
    mentions = {s: sum(1 for line in lines if re.search(rf"\b{s}\b", line)) for s in STATUSES}
    repeated = {s: n for s, n in mentions.items() if n > 1 and s != "STOPPED"}
    expect(mentions["STOPPED"] >= 1, "Affichez les changements de statut, au moins le statut final STOPPED.",
           "Print the status changes, at least the final STOPPED status.", expected="STOPPED", seen=lines[-5:])
    expect(not repeated, "Chaque changement de statut doit être affiché une seule fois, pas à chaque appel.",
           "Each status change must be printed once, not at every poll.", expected=Text("1 ligne par statut", "1 line per status"),
           seen=repeated)


def test_nonzero_exit_code_raises_task_failed_error(ops, lab, task_arn):
    _stop_with(task_arn, 1, "Essential container in task exited")
    error = _monitor(ops, lab, task_arn).error
    expect(error is not None and error.is_a("TaskFailedError"),
           "Un code de sortie non nul doit lever TaskFailedError.",
           "A non-zero exit code must raise TaskFailedError.", expected="TaskFailedError",
           seen=error.type_name if error else NO_EXCEPTION)
    expect(error.attribute("exit_code") == 1, "TaskFailedError.exit_code doit être le code de sortie du conteneur.",
           "TaskFailedError.exit_code must be the container's exit code.", expected=1,
           seen=error.attribute("exit_code"))


def test_missing_exit_code_raises_with_the_stopped_reason(ops, lab, task_arn):
    reason = ("CannotPullContainerError: pull image manifest has been retried 5 time(s): "
              "failed to resolve ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/ecs-lab/image-classifier:latest: not found")
    _stop_with(task_arn, None, reason)
    error = _monitor(ops, lab, task_arn).error
    expect(error is not None and error.is_a("TaskFailedError"),
           "Une tâche arrêtée sans code de sortie (image introuvable...) est un échec : TaskFailedError.",
           "A task stopped without an exit code (image not found...) is a failure: TaskFailedError.",
           expected="TaskFailedError", seen=error.type_name if error else Text("aucune exception (succès ?)",
                                                                                "no exception (success?)"))
    expect("exit_code" in error.attributes and error.attribute("exit_code") is None
           and "CannotPullContainerError" in str(error.attribute("stopped_reason", "")),
           "TaskFailedError doit porter exit_code=None et stopped_reason (le stoppedReason de la tâche).",
           "TaskFailedError must carry exit_code=None and stopped_reason (the task's stoppedReason).",
           expected={"exit_code": None, "stopped_reason": shorten(reason, 60)},
           seen={"exit_code": error.attribute("exit_code", "?"), "stopped_reason": error.attribute("stopped_reason", "?")})


def test_times_out_when_the_task_never_stops(ops, account, lab, task_arn, states_last):
    states_last(10**9)  # stuck in RUNNING
    clock = account.clock

    def give_up(_params: dict, _response: dict) -> None:  # far past the timeout: no need to wait for more
        if clock.now > 3 * TIMEOUT:
            raise Stop(Text(f"{clock.now:.0f} s de temps virtuel après le début, la tâche est encore interrogée : "
                            "aucune limite de temps n'arrête la boucle (sans fin)",
                            f"still polling {clock.now:.0f} s of virtual time after the start: no time limit stops "
                            "the loop (endless)"))

    account.requests.on_call("DescribeTasks", give_up)
    error = _monitor(ops, lab, task_arn).error
    expect(error is not None and error.is_a("TimeoutError"),
           f"Une tâche qui ne s'arrête pas doit lever TimeoutError après timeout ({TIMEOUT:.0f} s).",
           f"A task that never stops must raise TimeoutError after timeout ({TIMEOUT:.0f} s).",
           expected="TimeoutError", seen=error.type_name if error else NO_EXCEPTION)
    expect(clock.now <= TIMEOUT + POLL + 1,
           "TimeoutError doit arriver dans le délai timeout, pas bien après.",
           "TimeoutError must come within the timeout, not long after.",
           expected=_seconds(TIMEOUT + POLL, "<= ", 0), seen=_seconds(clock.now, "", 0))


def test_ecs_failures_raise_task_failed_error(ops, account, lab, task_arn):
    account.requests.stub("DescribeTasks", lambda params: {
        "tasks": [], "failures": [{"arn": task_arn, "reason": "MISSING"}]})
    error = _monitor(ops, lab, task_arn).error
    expect(error is not None and error.is_a("TaskFailedError"),
           "Une tâche signalée dans « failures » par describe_tasks doit lever TaskFailedError.",
           "A task reported in describe_tasks' \"failures\" must raise TaskFailedError.",
           expected="TaskFailedError", seen=error_text(error) if error else NO_EXCEPTION)


def _seconds(value: float, before: str = "", digits: int = 1) -> Text:
    """A duration in seconds, with the decimal comma in French."""
    return Text(f"{before}{number(value, 'fr', digits)} s", f"{before}{number(value, 'en', digits)} s")
