"""The aws tier's connection to a real account (or to a stand-in at AWS_ENDPOINT_URL).

`open_tier` makes the tier's only session: credentials resolved once (profile, SSO...) and
frozen into a static session, so that no credential provider makes calls of its own later;
the read-only recorder attached before any client exists; a probe (STS GetCallerIdentity).
When the tier cannot run (no or expired credentials, unknown profile, CI without a stand-in
endpoint) it raises `TierUnavailable` with a reason in both languages and the command to
fix it: the checkpoints are then "not graded", never failed.

The tier never sends a mutating call (grader.tiers.aws.readonly), never shows a secret, and can
mask the account ID in everything it reports (ECS_LAB_MASK_ACCOUNT=1).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from ecslab import facts
from ecslab.aws import credentials_kind
from grader.tiers.aws.readonly import ReadOnlyRecorder
from grader.feedback import Text
from grader.tiers import base

MASK_ENV = "ECS_LAB_MASK_ACCOUNT"
# Tests only: send the ALB's HTTP requests to host:port (a local stand-in for the ALB) instead
# of its DNS name. Honoured only when AWS_ENDPOINT_URL is set, i.e. never against real AWS.
ALB_ENDPOINT_ENV = "ECS_LAB_ALB_ENDPOINT"
# A stand-in's ECR registry host (the sandbox: localhost:<port>; AWS's is <account>.dkr.ecr.<region>
# .amazonaws.com). Honoured only when AWS_ENDPOINT_URL is set.
ECR_REGISTRY_ENV = "ECS_LAB_ECR_REGISTRY"
ACCOUNT_MASK = "*" * 12
SECRET_MASK = "********"
# Access key IDs look like this; never shown, whoever's they are.
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")

# CloudTrail answers LookupEvents at 2 requests per second per account: retry when throttled.
CLOUDTRAIL_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})
STAND_IN_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2})
CLOUDTRAIL_PAGE = 50  # LookupEvents' maximum
CLOUDTRAIL_MAX_PAGES = 10


class TierUnavailable(Exception):
    """The aws tier cannot run here; `reason` says why and what to do."""

    def __init__(self, reason: Text) -> None:
        super().__init__(reason.en)
        self.reason = reason


def login_hint(profile: str) -> str:
    return f"aws sso login --profile {profile}"


def _reason_no_credentials(profile: str) -> Text:
    return Text(
        f"Aucun identifiant AWS trouvé (profil {profile}) : connectez-vous avec « {login_hint(profile)} » "
        "puis relancez la vérification.",
        f"No AWS credentials found (profile {profile}): log in with `{login_hint(profile)}`, then run "
        "the checks again.",
    )


def _reason_expired(profile: str) -> Text:
    return Text(
        f"Session AWS expirée (profil {profile}) : reconnectez-vous avec « {login_hint(profile)} » "
        "puis relancez la vérification.",
        f"AWS session expired (profile {profile}): log in again with `{login_hint(profile)}`, then "
        "run the checks again.",
    )


def _reason_invalid(profile: str, code: str) -> Text:
    return Text(
        f"Identifiants AWS refusés ({code}, profil {profile}) : reconnectez-vous avec "
        f"« {login_hint(profile)} » puis relancez la vérification.",
        f"AWS credentials rejected ({code}, profile {profile}): log in again with "
        f"`{login_hint(profile)}`, then run the checks again.",
    )


def _reason_profile(profile: str) -> Text:
    return Text(
        f"Profil AWS « {profile} » introuvable : configurez-le (aws configure sso --profile {profile}), "
        f"connectez-vous avec « {login_hint(profile)} » ou indiquez --profile.",
        f"AWS profile \"{profile}\" not found: configure it (aws configure sso --profile {profile}), "
        f"log in with `{login_hint(profile)}` or pass --profile.",
    )


def _reason_endpoint(endpoint: str, error: BaseException) -> Text:
    return Text(
        f"AWS ne répond pas ({endpoint} : {type(error).__name__}) : vérifiez votre connexion (ou AWS_ENDPOINT_URL).",
        f"AWS does not answer ({endpoint}: {type(error).__name__}): check your connection (or AWS_ENDPOINT_URL).",
    )


REASON_CI = Text(
    "En CI, le tier aws ne s'exécute jamais contre AWS : il faut AWS_ENDPOINT_URL vers une émulation "
    "(serveur moto).",
    "In CI the aws tier never runs against AWS: set AWS_ENDPOINT_URL to a stand-in (a moto server).",
)


def credentials_problem(error: BaseException, profile: str) -> Text | None:
    """The reason to give when `error` means the credentials are missing, expired or refused."""
    kind = credentials_kind(error)
    if kind == "sso_expired":
        return _reason_expired(profile)
    if kind == "no_credentials":
        return _reason_no_credentials(profile)
    if kind == "profile_not_found":
        return _reason_profile(profile)
    if kind == "invalid_credentials":
        return _reason_invalid(profile, error.response.get("Error", {}).get("Code", ""))
    return None


def access_denied(error: BaseException, profile: str) -> Text | None:
    """The reason to give when the profile may not read what a check needs (not the student's fault)."""
    if credentials_kind(error) != "access_denied":
        return None
    operation = getattr(error, "operation_name", "?")
    return Text(
        f"Lecture refusée ({operation}) avec le profil {profile} : ce point ne peut pas être vérifié avec ces droits.",
        f"Read refused ({operation}) with profile {profile}: this point cannot be verified with these permissions.",
    )


def in_ci(environ: Mapping[str, str]) -> bool:
    return environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class TrailEvent:
    """One CloudTrail management event (event history, 90 days)."""

    name: str
    time: datetime
    source: str
    request: dict[str, Any]
    response: dict[str, Any]
    error_code: str | None


@dataclass
class AwsWorld(base.World):
    """The tier's read-only view of one account (nothing to reset between checks: it is only read)."""

    session: boto3.Session
    region: str
    profile: str
    account_id: str
    recorder: ReadOnlyRecorder
    endpoint_url: str | None = None
    ecr_registry: str | None = None  # a stand-in's registry host (ECR_REGISTRY_ENV)
    mask_account: bool = False
    lang: str = "fr"
    secrets: tuple[str, ...] = ()
    evidence: list[dict[str, Any]] = field(default_factory=list)
    _clients: dict[str, Any] = field(default_factory=dict)
    _trail: dict[tuple[str, str], list[TrailEvent]] = field(default_factory=dict)
    _trail_failure: Exception | None = None  # LookupEvents failed on the server side (5xx)
    _once: dict[str, Any] = field(default_factory=dict)
    checkpoint: str = ""  # the checkpoint of the check running now (set by the tier's hooks): notes go there

    def __enter__(self) -> "AwsWorld":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._clients.clear()

    def reset(self) -> base.Account:
        return base.Account(world=self)

    def once(self, key: str, compute):
        """`compute()`, once per run: the account does not change while it is graded."""
        if key not in self._once:
            self._once[key] = compute()
        return self._once[key]

    # ---- clients ---------------------------------------------------------

    def client(self, service: str) -> Any:
        """A client of the tier's session (recorded, read-only), one per service."""
        if service not in self._clients:
            # Retries ride out CloudTrail's throttling on AWS; a local stand-in answers at once or never.
            config = (CLOUDTRAIL_CONFIG if not self.endpoint_url else STAND_IN_CONFIG) if service == "cloudtrail" else None
            self._clients[service] = self.session.client(
                service, region_name=self.region, endpoint_url=self.endpoint_url, config=config)
        return self._clients[service]

    # ---- what the reports may show ----------------------------------------

    def redact(self, text: str) -> str:
        """`text` without secrets, and without the account ID when masking is on."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, SECRET_MASK)
        text = _ACCESS_KEY_ID.sub(SECRET_MASK, text)
        if self.mask_account and self.account_id:
            text = text.replace(self.account_id, ACCOUNT_MASK)
        return text

    def redact_value(self, value: Any) -> Any:
        """`redact` applied to every string inside `value` (dicts, lists, tuples)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Text):
            return Text(self.redact(value.fr), self.redact(value.en))
        if isinstance(value, dict):
            return {self.redact_value(k): self.redact_value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.redact_value(v) for v in value)
        return value

    def say(self, fr: str, en: str) -> str:
        """A sentence in the run's language, redacted (for skip reasons)."""
        return self.redact(Text(fr, en)(self.lang))

    def note(self, **facts: Any) -> None:
        """Evidence the running check found (what was seen, and when), for the instructor."""
        self.evidence.append({"checkpoint": self.checkpoint, **json.loads(json.dumps(facts, default=str))})

    def report_data(self, stage: str) -> dict[str, Any]:
        return self.redact_value({
            "account": self.account_id,
            "region": self.region,
            "stage": stage,
            "endpoint_url": self.endpoint_url,
            "calls": self.recorder.summary(),
            "refused": [f"{c.service}:{c.operation}" for c in self.recorder.refused],
            "evidence": self.evidence,
        })

    # ---- CloudTrail event history ------------------------------------------

    def trail_events(self, event_name: str, source: str) -> list[TrailEvent]:
        """Management events `event_name` from `source` (e.g. "ecs.amazonaws.com"), newest first.

        LookupEvents (read-only, free) covers the last 90 days; events appear within about 5
        minutes. At most CLOUDTRAIL_MAX_PAGES pages of 50 events, cached for the run (the API
        allows 2 requests per second).
        """
        key = (event_name, source)
        if self._trail_failure is not None:  # the endpoint cannot answer: do not wait for its retries again
            raise self._trail_failure
        if key not in self._trail:
            client = self.client("cloudtrail")
            events: list[TrailEvent] = []
            kwargs: dict[str, Any] = {
                "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": event_name}],
                "MaxResults": CLOUDTRAIL_PAGE,
            }
            for _ in range(CLOUDTRAIL_MAX_PAGES):
                try:
                    page = client.lookup_events(**kwargs)
                except ClientError as error:
                    if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                        self._trail_failure = error  # a stand-in without LookupEvents (moto): not graded
                    raise
                for raw in page.get("Events", []):
                    event = _trail_event(raw)
                    if event is not None and event.source == source:
                        events.append(event)
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
            events.sort(key=lambda e: e.time, reverse=True)
            self._trail[key] = events
        return self._trail[key]

    # ---- HTTP through the load balancer --------------------------------------

    def http_get(self, host: str, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """GET http://<host><path> (the ALB's DNS name); (status, body).

        A stand-in's DNS names lead nowhere real: its load balancer is reached at ALB_ENDPOINT_ENV
        (tests), or through the stand-in's HTTP proxy (`http_proxy`: the sandbox's)."""
        address = os.environ.get(ALB_ENDPOINT_ENV) if self.endpoint_url else None
        proxy = urllib.request.getproxies().get("http") if self.endpoint_url and not address else None
        if self.endpoint_url and not address and not proxy:
            raise OSError(f"no stand-in for the load balancer ({ALB_ENDPOINT_ENV} and http_proxy are not set)")
        target = path
        if proxy:
            parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            address, target = f"{parts.hostname}:{parts.port or 80}", f"http://{host}{path}"
        target_host, port = (address.rsplit(":", 1)[0], int(address.rsplit(":", 1)[1])) if address else (host, 80)
        connection = http.client.HTTPConnection(target_host, port, timeout=timeout)
        try:
            connection.request("GET", target, headers={"Host": host, "Connection": "close",
                                                       "User-Agent": "ecs-lab-grader"})
            response = connection.getresponse()
            return response.status, response.read(1_000_000)
        finally:
            connection.close()


def _trail_event(raw: dict[str, Any]) -> TrailEvent | None:
    try:
        detail = json.loads(raw.get("CloudTrailEvent") or "{}")
    except json.JSONDecodeError:
        return None
    when = raw.get("EventTime")
    if not isinstance(when, datetime):
        try:
            when = datetime.fromisoformat(str(detail.get("eventTime", "")).replace("Z", "+00:00"))
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return TrailEvent(
        name=raw.get("EventName") or detail.get("eventName", ""),
        time=when,
        source=raw.get("EventSource") or detail.get("eventSource", ""),
        request=detail.get("requestParameters") or {},
        response=detail.get("responseElements") or {},
        error_code=detail.get("errorCode"),
    )


def mask_requested(environ: Mapping[str, str], option: bool | None = None) -> bool:
    if option:
        return True
    return environ.get(MASK_ENV, "").strip().lower() in {"1", "true", "yes"}


def open_tier(profile: str, region: str, *, environ: Mapping[str, str] | None = None,
              mask_account: bool = False, lang: str = "fr") -> AwsWorld:
    """The tier's session on `profile` (or AWS_ENDPOINT_URL), probed; `TierUnavailable` otherwise."""
    from ecslab.aws import make_session
    from ecslab.errors import LabError

    environ = os.environ if environ is None else environ
    endpoint = environ.get("AWS_ENDPOINT_URL") or None
    if in_ci(environ) and not endpoint:
        raise TierUnavailable(REASON_CI)
    profile = profile or facts.PROFILE
    try:
        base = make_session(profile, region, environ)
        credentials = base.get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        frozen = credentials.get_frozen_credentials()  # an SSO/role refresh happens here, once
    except LabError:
        raise TierUnavailable(_reason_profile(profile)) from None
    except (BotoCoreError, ClientError) as error:
        reason = credentials_problem(error, profile)
        if reason is None:
            raise
        raise TierUnavailable(reason) from None
    if not frozen.access_key or not frozen.secret_key:
        raise TierUnavailable(_reason_no_credentials(profile))

    # A static session: no credential provider (and none of its calls) behind the recorder.
    session = boto3.Session(aws_access_key_id=frozen.access_key, aws_secret_access_key=frozen.secret_key,
                            aws_session_token=frozen.token, region_name=region)
    recorder = ReadOnlyRecorder()
    recorder.attach(session)
    tier = AwsWorld(session=session, region=region, profile=profile, account_id="", recorder=recorder,
                   endpoint_url=endpoint, mask_account=mask_account, lang=lang,
                   ecr_registry=(environ.get(ECR_REGISTRY_ENV) or None) if endpoint else None,
                   secrets=tuple(s for s in (frozen.access_key, frozen.secret_key, frozen.token) if s))
    try:
        tier.account_id = tier.client("sts").get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:
        reason = credentials_problem(error, profile)
        if reason is None and isinstance(error, BotoCoreError):  # network: no answer, or a timeout
            reason = _reason_endpoint(endpoint or f"sts.{region}.amazonaws.com", error)
        if reason is None:
            raise
        raise TierUnavailable(reason) from None
    return tier
