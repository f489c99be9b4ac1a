"""Where the student's code read CloudWatch Logs, against where the container wrote.

moto answers GetLogEvents on a stream that does not exist with "The specified log group does
not exist." even when the group exists (AWS says "log stream"): quoting that answer would send
the student after the wrong name. The checks name the stream read and the stream expected.
"""

from __future__ import annotations

from typing import Any

from grader.feedback import Text


def _exists(logs: Any, group: str, stream: str | None) -> tuple[bool, bool]:
    """(the group exists, the stream exists in it)."""
    try:
        if not stream:
            found = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
            return any(g.get("logGroupName") == group for g in found), False
        found = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream).get("logStreams", [])
    except Exception:  # noqa: BLE001 - the group does not exist (or a name moto refuses)
        return False, False
    return True, any(s.get("logStreamName") == stream for s in found)


def missed_read(account: Any, written: list[tuple[str, str]]) -> Text | None:
    """When the student's code read a log stream that does not exist: which one, and which one the
    container wrote (`written`: (group, stream) pairs). None when every read found its stream."""
    logs = account.client("logs")
    for call in account.requests.of("GetLogEvents"):
        group, stream = str(call.params.get("logGroupName", "")), call.params.get("logStreamName")
        if not group or not stream or (group, stream) in written:
            continue
        group_exists, stream_exists = _exists(logs, group, str(stream))
        if stream_exists:
            continue
        expected = " ; ".join(f"« {s} » dans le groupe {g}" for g, s in written) or "?"
        expected_en = "; ".join(f"\"{s}\" in group {g}" for g, s in written) or "?"
        if any(s == stream for _g, s in written):
            return Text(f"Le flux « {stream} » est lu dans le groupe {group}, mais la tâche l'a écrit dans "
                        f"{expected} : le groupe de la task definition (awslogs-group) et celui que lit votre code "
                        "doivent être le même.",
                        f"Stream \"{stream}\" is read in group {group}, but the task wrote {expected_en}: the task "
                        "definition's group (awslogs-group) and the one your code reads must be the same.")
        if group_exists:
            return Text(f"Le flux de logs lu n'existe pas : votre code lit « {stream} » dans le groupe {group}, "
                        f"la tâche a écrit {expected} (CloudWatch répond alors « log group does not exist », "
                        "mais c'est le nom du flux qui est faux : préfixe/conteneur/identifiant de la tâche).",
                        f"The log stream read does not exist: your code reads \"{stream}\" in group {group}, the "
                        f"task wrote {expected_en} (CloudWatch then answers \"log group does not exist\", but the "
                        "stream's name is what is wrong: prefix/container/task id).")
        return Text(f"Le groupe de logs lu n'existe pas : votre code lit « {stream} » dans le groupe {group}, "
                    f"la tâche a écrit {expected}.",
                    f"The log group read does not exist: your code reads \"{stream}\" in group {group}, the task "
                    f"wrote {expected_en}.")
    return None
