"""What an IAM policy document allows, for the checks made before a run starts: the task role must
be able to write the reports, and nothing in it may reach another bucket.

Enough of IAM's evaluation for the policies of grading-stack.yaml: Allow and Deny statements,
Action/NotAction and Resource with ``*`` and ``?`` wildcards, explicit Deny first. Conditions
are not evaluated (a statement with one counts as not applying), which errs towards "denied".
"""

from __future__ import annotations

from fnmatch import fnmatchcase


def _listed(value: object) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _matches(patterns: list[str], value: str, *, case: bool) -> bool:
    if not case:
        value = value.lower()
        patterns = [p.lower() for p in patterns]
    return any(fnmatchcase(value, pattern) for pattern in patterns)


def _applies(statement: dict, action: str, resource: str) -> bool:
    if "Condition" in statement:
        return False
    if "Action" in statement and not _matches(_listed(statement["Action"]), action, case=False):
        return False
    if "NotAction" in statement and _matches(_listed(statement["NotAction"]), action, case=False):
        return False
    if "NotResource" in statement:
        return not _matches(_listed(statement["NotResource"]), resource, case=True)
    return _matches(_listed(statement.get("Resource", [])), resource, case=True)


def allows(documents: list[dict], action: str, resource: str) -> bool:
    """Whether `documents` (policy documents) allow `action` on `resource`."""
    statements = [s for document in documents for s in _listed_statements(document)]
    if any(s.get("Effect") == "Deny" and _applies(s, action, resource) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _applies(s, action, resource) for s in statements)


def _listed_statements(document: dict) -> list[dict]:
    statement = document.get("Statement", [])
    return [statement] if isinstance(statement, dict) else list(statement)


def role_documents(iam, role_name: str) -> list[dict]:  # noqa: ANN001 - a boto3 IAM client
    """The role's inline and attached policies' documents."""
    import json
    from urllib.parse import unquote

    def parsed(document: object) -> dict:
        if isinstance(document, str):
            return json.loads(unquote(document))
        return dict(document)  # type: ignore[arg-type]

    documents = [parsed(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
                 for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]]
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        documents.append(parsed(version["PolicyVersion"]["Document"]))
    return documents
