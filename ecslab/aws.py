"""AWS sessions for the lab's commands, and AWS errors turned into lab errors.

Every command gets its boto3 session from :func:`make_session` (or from the
``session_factory`` given to :func:`ecslab.cli.main` in tests), and every
botocore exception crosses :func:`translate_error` before a student sees it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
    WaiterError,
)

from ecslab import facts
from ecslab.errors import LabError

SessionFactory = Callable[[str | None, str], boto3.Session]

EXPIRED_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
INVALID_CODES = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "InvalidAccessKeyId",
}
DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"}


def make_session(profile: str | None, region: str, environ: Mapping[str, str] | None = None) -> boto3.Session:
    """Return a session on ``profile`` in ``region``.

    With ``AWS_ENDPOINT_URL`` set (a moto server or another stand-in for AWS;
    boto3 sends every call there by itself), the profile is optional: when it
    does not exist, the default credential chain is used instead. An empty
    profile always means the default chain.
    """
    environ = os.environ if environ is None else environ
    if not profile:
        return boto3.Session(region_name=region)
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        if environ.get("AWS_ENDPOINT_URL"):
            return boto3.Session(region_name=region)
        raise LabError("profile_not_found", profile=profile) from None


def account_id(session: boto3.Session) -> str:
    """The account of the session's credentials (first call of most commands)."""
    return session.client("sts").get_caller_identity()["Account"]


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def credentials_kind(exc: BaseException) -> str | None:
    """What a botocore error says of the credentials, the one classification the lab's commands and
    the aws tier share: "profile_not_found", "sso_expired", "no_credentials", "invalid_credentials",
    "access_denied", or None (not about the credentials)."""
    if isinstance(exc, ProfileNotFound):
        return "profile_not_found"
    if isinstance(exc, (SSOTokenLoadError, UnauthorizedSSOTokenError, TokenRetrievalError, SSOError)):
        return "sso_expired"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return "no_credentials"
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in EXPIRED_CODES:
            return "sso_expired"
        if code in INVALID_CODES:
            return "invalid_credentials"
        if code in DENIED_CODES:
            return "access_denied"
    return None


def translate_error(exc: BaseException, profile: str | None) -> LabError:
    """Turn a botocore exception into a :class:`LabError` with a useful hint."""
    profile = profile or facts.PROFILE
    if isinstance(exc, LabError):
        return exc
    kind = credentials_kind(exc)
    if kind in ("profile_not_found", "sso_expired", "no_credentials", "invalid_credentials"):
        return LabError(kind, profile=profile)
    if isinstance(exc, EndpointConnectionError):
        return LabError("endpoint_unreachable", endpoint=getattr(exc, "kwargs", {}).get("endpoint_url", "?"))
    if isinstance(exc, WaiterError):
        return LabError("waiter_failed", waiter=exc.name, reason=waiter_reason(exc))
    if isinstance(exc, ClientError):
        code = error_code(exc)
        operation = exc.operation_name
        message = exc.response.get("Error", {}).get("Message", "")
        if kind == "access_denied":
            return LabError("access_denied", operation=operation, message=message)
        return LabError("aws_error", operation=operation, code=code, message=message)
    if isinstance(exc, BotoCoreError):
        return LabError("aws_error", operation="?", code=type(exc).__name__, message=str(exc))
    return LabError("unexpected", error=f"{type(exc).__name__}: {exc}")


def waiter_reason(exc: WaiterError) -> str:
    """The last error or status that made a botocore waiter give up."""
    response = exc.last_response or {}
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    return error.get("Message") or str(exc)

