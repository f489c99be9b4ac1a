"""The lab's own rules for its CloudFormation templates, beyond what cfn-lint knows.

moto's CloudFormation drops most ECS and ELB properties, so ports, names, health checks and
the least privilege of the classifier's task role are judged on the templates themselves,
with parameters and pseudo parameters resolved to the lab's values.
"""

from __future__ import annotations


import re
from pathlib import Path
from typing import Any

from ecslab.facts import ACCOUNT_ID as ACCOUNT
from ecslab.facts import CLASSIFIER_LOG_GROUP, REGION, WEB_HEALTH_PATH, WEB_LOG_GROUP, WEB_PORT
from grader.feedback import Text

MAX_TEMPLATE_BYTES = 512 * 1024
# YAML anchors and aliases: CloudFormation does not accept them, and a few nested aliases make
# a template that expands exponentially in whatever parses it (the grader is no exception).
_ALIAS = re.compile(r"(?:^|[\s\[{,])[&*][A-Za-z_][\w-]*", re.M)
PSEUDO = {"ProjectName": "ecs-lab", "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws"}
BUCKET_ARN = f"arn:aws:s3:::ecs-lab-images-{ACCOUNT}-{REGION}"


class UnsafeTemplate(ValueError):
    """A template the grader refuses to parse (too large, or YAML anchors and aliases)."""


def safe_text(path: Path) -> str:
    """The template's text, once it is known to be safe to parse."""
    if path.stat().st_size > MAX_TEMPLATE_BYTES:
        raise UnsafeTemplate(f"{path.name}: more than {MAX_TEMPLATE_BYTES // 1024} KiB")
    text = path.read_text(encoding="utf-8", errors="replace")
    found = [m.group(0).strip() for m in _ALIAS.finditer(text) if not _quoted(text, m.start())]
    if found:
        raise UnsafeTemplate(f"{path.name}: YAML anchors/aliases ({', '.join(found[:3])}), which CloudFormation "
                             "does not accept")
    return text


def _quoted(text: str, position: int) -> bool:
    line = text[text.rfind("\n", 0, position) + 1:position]
    return line.count("'") % 2 == 1 or line.count('"') % 2 == 1 or "#" in line


def load_template(path: Path) -> dict:
    """The template with CloudFormation's short forms in their long form (!Ref x -> {"Ref": x}).

    PyYAML with one constructor per short form: cfn-lint's own decoder gives the same
    structure but costs most of a second to import, for every grading run.
    """
    import yaml

    text = safe_text(path)
    try:  # libyaml's parser when PyYAML has it (ten times faster); a refused text is parsed again
        document = yaml.load(text, Loader=_short_forms(getattr(yaml, "CSafeLoader", yaml.SafeLoader)))  # noqa: S506
    except yaml.YAMLError:  # ...by the pure-Python loader, whose error the feedback quotes
        document = yaml.load(text, Loader=_short_forms(yaml.SafeLoader))  # noqa: S506 - SafeLoader + short forms
    if not isinstance(document, dict):
        raise ValueError(f"{path.name}: not a CloudFormation template")
    return document


def _short_forms(base: type) -> type:
    """`base` (a safe YAML loader) with one constructor per CloudFormation short form."""
    import yaml

    class Loader(base):  # type: ignore[misc, valid-type]
        pass

    def short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if suffix == "GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    Loader.add_multi_constructor("!", short_form)
    return Loader


def resolve(value: Any) -> Any:
    """Resolve Ref/Fn::Sub on parameters and pseudo parameters; other intrinsics are kept."""
    if isinstance(value, dict) and len(value) == 1:
        (function, argument), = value.items()
        if function == "Ref" and argument in PSEUDO:
            return PSEUDO[argument]
        if function == "Fn::Sub" and isinstance(argument, str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: PSEUDO.get(m.group(1), m.group(0)), argument)
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def resources(template: dict, resource_type: str, **where: Any) -> list[dict]:
    """The resolved properties of every resource of `resource_type` matching `where`."""
    found = []
    for body in template.get("Resources", {}).values():
        if body.get("Type") != resource_type:
            continue
        properties = resolve(body.get("Properties", {}))
        if all(properties.get(k) == v for k, v in where.items()):
            found.append(properties)
    return found


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def role_statements(role_properties: dict) -> list[dict]:
    return [s for policy in role_properties.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def classifier_policy_problems(statements: list[dict], bucket_arn: str = BUCKET_ARN) -> list[str]:
    """The lab's least-privilege rule for the image classifier's task role."""
    allowed = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "cloudwatch:PutMetricData"}
    problems = []
    for statement in statements:
        if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
            problems.append(f"unexpected statement form: {statement}")
            continue
        targets = as_list(statement.get("Resource", []))
        for action in as_list(statement["Action"]):
            if "*" in action:
                problems.append(f"wildcard action {action}")
            elif action not in allowed:
                problems.append(f"action not needed: {action}")
            elif action in {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}:
                if any(r != f"{bucket_arn}/*" and not r.startswith(f"{bucket_arn}/") for r in targets):
                    problems.append(f"{action} not scoped to the bucket's objects: {targets}")
            elif action == "s3:ListBucket":
                if targets != [bucket_arn]:
                    problems.append(f"s3:ListBucket not scoped to the bucket: {targets}")
            elif action == "cloudwatch:PutMetricData":
                namespace = statement.get("Condition", {}).get("StringEquals", {}).get("cloudwatch:namespace")
                if namespace != "ecs-lab/ImageClassifier":
                    problems.append(f"PutMetricData without the namespace condition: {namespace}")
    return problems


def _one(template: dict, problems: list[str], resource_type: str, **where: Any) -> dict:
    found = resources(template, resource_type, **where)
    if len(found) != 1:
        problems.append(Text(f"{resource_type} {where} : {len(found)} trouvé(s), 1 attendu",
                             f"{resource_type} {where}: {len(found)} found, 1 expected"))
        return {}
    return found[0]


def network_problems(infrastructure: dict) -> list[str]:
    """Names, ports and health check of the security groups, the ALB and its target group."""
    problems: list[str] = []
    alb_group = _one(infrastructure, problems, "AWS::EC2::SecurityGroup", GroupName="ecs-lab-alb-sg")
    if alb_group:
        ingress = [(r.get("IpProtocol"), r.get("FromPort"), r.get("ToPort"), r.get("CidrIp"))
                   for r in alb_group.get("SecurityGroupIngress", [])]
        if ingress != [("tcp", 80, 80, "0.0.0.0/0")]:
            problems.append(Text(f"ecs-lab-alb-sg : entrée attendue TCP 80 depuis 0.0.0.0/0, vu {ingress}",
                                 f"ecs-lab-alb-sg: expected ingress TCP 80 from 0.0.0.0/0, seen {ingress}"))
    ecs_group = _one(infrastructure, problems, "AWS::EC2::SecurityGroup", GroupName="ecs-lab-ecs-sg")
    if ecs_group:
        ingress = ecs_group.get("SecurityGroupIngress", [])
        shape = [(r.get("IpProtocol"), r.get("FromPort"), r.get("ToPort"), "CidrIp" in r) for r in ingress]
        if shape != [("tcp", WEB_PORT, WEB_PORT, False)]:
            problems.append(Text(f"ecs-lab-ecs-sg : entrée attendue TCP {WEB_PORT} depuis le groupe de l'ALB seulement, vu {shape}",
                                 f"ecs-lab-ecs-sg: expected ingress TCP {WEB_PORT} from the ALB's group only, seen {shape}"))
    target_group = _one(infrastructure, problems, "AWS::ElasticLoadBalancingV2::TargetGroup", Name="ecs-lab-tg")
    if target_group:
        seen = {k: target_group.get(k) for k in ("Protocol", "Port", "TargetType", "HealthCheckPath")}
        wanted = {"Protocol": "HTTP", "Port": WEB_PORT, "TargetType": "ip", "HealthCheckPath": WEB_HEALTH_PATH}
        if seen != wanted:
            problems.append(Text(f"ecs-lab-tg : attendu {wanted}, vu {seen}", f"ecs-lab-tg: expected {wanted}, seen {seen}"))
    alb = _one(infrastructure, problems, "AWS::ElasticLoadBalancingV2::LoadBalancer", Name="ecs-lab-alb")
    if alb and alb.get("Scheme") != "internet-facing":
        problems.append(Text(f"ecs-lab-alb : schéma internet-facing attendu, vu {alb.get('Scheme')}",
                             f"ecs-lab-alb: internet-facing scheme expected, seen {alb.get('Scheme')}"))
    listener = _one(infrastructure, problems, "AWS::ElasticLoadBalancingV2::Listener")
    if listener and (listener.get("Protocol"), listener.get("Port")) != ("HTTP", 80):
        shape = (listener.get("Protocol"), listener.get("Port"))
        problems.append(Text(f"listener : HTTP 80 attendu, vu {shape}", f"listener: HTTP 80 expected, seen {shape}"))
    return problems


def storage_problems(infrastructure: dict) -> list[str]:
    """Repositories, log groups and the bucket, with the names the lab's code uses."""
    problems: list[str] = []
    for name in ("ecs-lab/web-app", "ecs-lab/image-classifier"):
        _one(infrastructure, problems, "AWS::ECR::Repository", RepositoryName=name)
    for name in (WEB_LOG_GROUP, CLASSIFIER_LOG_GROUP):
        _one(infrastructure, problems, "AWS::Logs::LogGroup", LogGroupName=name)
    bucket = _one(infrastructure, problems, "AWS::S3::Bucket")
    if bucket and bucket.get("BucketName") != f"ecs-lab-images-{ACCOUNT}-{REGION}":
        problems.append(Text(f"bucket : nom ecs-lab-images-<compte>-<région> attendu, vu {bucket.get('BucketName')}",
                             f"bucket: name ecs-lab-images-<account>-<region> expected, seen {bucket.get('BucketName')}"))
    return problems


_FRENCH_POLICY = (("unexpected statement form:", "forme de déclaration inattendue :"),
                  ("wildcard action", "action joker"), ("action not needed:", "action inutile :"),
                  ("not scoped to the bucket's objects:", "non limitée aux objets du bucket :"),
                  ("not scoped to the bucket:", "non limitée au bucket :"),
                  ("PutMetricData without the namespace condition:", "PutMetricData sans la condition d'espace de noms :"))


def _fr(problem: str) -> str:
    """A least-privilege problem (classifier_policy_problems, English) in French."""
    for english, french in _FRENCH_POLICY:
        problem = problem.replace(english, french)
    return problem


def iam_problems(iam: dict) -> list[Text]:
    """Role names, and the least privilege of the classifier's task role."""
    problems: list[str] = []
    for name in ("ecs-lab-task-execution-role", "ecs-lab-web-app-task-role"):
        _one(iam, problems, "AWS::IAM::Role", RoleName=name)
    classifier = _one(iam, problems, "AWS::IAM::Role", RoleName="ecs-lab-image-classifier-task-role")
    if classifier:
        problems += [Text(f"ecs-lab-image-classifier-task-role : {_fr(p)}", f"ecs-lab-image-classifier-task-role: {p}")
                     for p in classifier_policy_problems(role_statements(classifier))]
    return problems
