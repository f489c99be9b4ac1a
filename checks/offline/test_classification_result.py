"""Checkpoint classification_result (step 12): the result read back from CloudWatch Logs.

The check writes the classifier's output into the task's log stream as the awslogs driver
does (one event per line, the result document last, other JSON lines before it) and makes
CloudWatch answer in small pages, so only a reader that follows every page finds it.
"""

import pytest

from ecslab.facts import CLASSIFIER_LOG_GROUP, log_stream
from grader.evidence.awslogs import classifier_output, result_document, write_container_output
from grader.feedback import Text, expect, fail, tail
from grader.judges.logs import missed_read
from grader.student import error_text, fail_with, failure_text

TASK_ARN = "arn:aws:ecs:eu-west-1:123456789012:task/ecs-lab-cluster/0f4a1c2b3d4e5f60718293a4b5c6d7e8"
PAGE = 10


@pytest.fixture
def small_pages(account):
    """CloudWatch answers in pages of PAGE events unless the student asks for fewer."""

    def limit(params: dict) -> dict | None:
        asked = params.get("limit", PAGE + 1)
        if not isinstance(asked, int) or asked > PAGE:
            return {**params, "limit": PAGE}
        return None

    for operation in ("GetLogEvents", "FilterLogEvents"):
        account.requests.adjust(operation, limit)


def _read(ops, account, *args):
    """The student's result; when the call fails after reading a stream that does not exist, the
    feedback names the stream read and the one the task wrote (not CloudWatch's "log group")."""
    outcome = ops.run("get_classification_result", *args)
    if outcome.status != "returned":
        group = args[1] if len(args) > 1 else CLASSIFIER_LOG_GROUP
        missed = missed_read(account, [(group, log_stream(TASK_ARN))])
        if missed is not None:
            fail(missed.fr, missed.en, key="classification_result.missed_stream")
        fail_with(outcome, "get_classification_result")
    return outcome.value


def _read_the_stream(account, group: str = CLASSIFIER_LOG_GROUP) -> bool:
    """The server saw the student's code read the task's stream of `group` (the result is not guessed)."""
    stream = log_stream(TASK_ARN)
    for call in account.requests.of("GetLogEvents") + account.requests.of("FilterLogEvents"):
        params = call.params
        streams = [params.get("logStreamName"), *(params.get("logStreamNames") or [])]
        if params.get("logGroupName") == group and (stream in streams or params.get("logStreamNamePrefix")
                                                    and stream.startswith(str(params["logStreamNamePrefix"]))):
            return True
    return False


def test_finds_the_result_in_a_short_stream(ops, account, small_pages):
    document = result_document("https://example.org/tiger.jpg")
    write_container_output(account.backends, TASK_ARN, classifier_output(document))
    result = _read(ops, account, TASK_ARN)
    expect(result == document, "La méthode doit renvoyer le document résultat (la ligne JSON avec « predictions »).",
           "The method must return the result document (the JSON line with \"predictions\").",
           expected=document, seen=result)
    expect(_read_the_stream(account), "Le document doit être lu dans le flux de logs de la tâche "
                                      f"({log_stream(TASK_ARN)}) avec CloudWatch Logs.",
           "The document must be read from the task's log stream "
           f"({log_stream(TASK_ARN)}) with CloudWatch Logs.", seen=account.requests.operations()[-5:])


@pytest.mark.weight(2)
def test_reads_every_page_of_the_stream(ops, account, small_pages):
    document = result_document("https://example.org/boat.jpg", [("speedboat", 0.91), ("lakeside", 0.05)])
    write_container_output(account.backends, TASK_ARN, classifier_output(document, noise_lines=45))
    # Not _read: a reader that stops after the first page raises its own "no result" error, and the
    # student needs this check's hint (read every page), not only that error.
    outcome = ops.answer("get_classification_result", TASK_ARN)
    result, error = outcome.value, outcome.error
    missed = missed_read(account, [(CLASSIFIER_LOG_GROUP, log_stream(TASK_ARN))]) if error is not None else None
    if missed is not None:
        fail(missed.fr, missed.en, key="classification_result.missed_stream")
    expect(error is None and result == document,
           "Le résultat est à la fin d'un long flux : lisez toutes les pages (nextToken / nextForwardToken, "
           "jusqu'à ce que le jeton ne change plus).",
           "The result is at the end of a long stream: read every page (nextToken / nextForwardToken, "
           "until the token stops changing).", expected=document,
           seen=error_text(error) if error else result)


def test_prints_the_top_predictions(ops, account, small_pages):
    document = result_document("https://example.org/cats.jpg", [("tabby, tabby cat", 0.6234), ("Egyptian cat", 0.2)])
    write_container_output(account.backends, TASK_ARN, classifier_output(document))
    outcome = ops.answer("get_classification_result", TASK_ARN)
    if outcome.error is not None:
        text = (missed_read(account, [(CLASSIFIER_LOG_GROUP, log_stream(TASK_ARN))])
                or failure_text(outcome, "get_classification_result"))
        expect(False, text.fr, text.en)
    out = outcome.stdout
    expect("tabby" in out and "62.34" in out.replace(",", "."),
           "Affichez les meilleures prédictions (étiquette et confiance en %).",
           "Print the top predictions (label and confidence in %).",
           expected=Text("tabby, tabby cat … 62,34 %", "tabby, tabby cat … 62.34%"),
           seen=tail(out, 300) or Text("(rien)", "(nothing)"))


def test_uses_the_given_log_group(ops, account, small_pages):
    document = result_document("https://example.org/tiger.jpg")
    group = "/ecs/autre-groupe/image-classifier"
    write_container_output(account.backends, TASK_ARN, classifier_output(document), group=group)
    result = _read(ops, account, TASK_ARN, group)
    expect(result == document and _read_the_stream(account, group), "Le groupe de logs à lire est le paramètre log_group.",
           "The log group to read is the log_group parameter.", expected=group, seen=result)


def test_no_result_is_an_error(ops, account, small_pages):
    write_container_output(account.backends, TASK_ARN,
                           ["Téléchargement de l'image...", "Erreur : HTTP 404", '{"level": "error"}'])
    error = ops.raised("get_classification_result", TASK_ARN)
    expect(error is not None and error.is_exception,
           "Sans document résultat dans les logs, la méthode doit lever une exception claire "
           "(pas renvoyer None ou un dict vide).",
           "Without a result document in the logs, the method must raise a clear exception "
           "(not return None or an empty dict).", expected=Text("une exception", "an exception"),
           seen=Text("aucune exception", "no exception"))
