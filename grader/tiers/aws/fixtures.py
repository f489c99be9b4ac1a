"""The aws tier's fixtures and hooks: read-only checks of the student's real account, stage by stage.

Opt-in only (`--tier aws` or `--tier all`). The `world` fixture opens the tier's one session
(grader.tiers.aws.world.open_tier): profile `--profile` (default aws-labs), region `--region`
(default eu-west-1), or the stand-in at AWS_ENDPOINT_URL (a moto server in the project's
tests); every call crosses the read-only recorder (grader.tiers.aws.readonly). Without usable
credentials every check is "not graded" with the reason and the login command.

Every check declares the stage(s) of the lab it verifies with `@pytest.mark.stage(...)`:
part1 (after step 7, service running), after-step8, part2 (after step 12 and the bonus,
within the hour), final (after the final clean-up). `--stage X` runs the checks of X; the
others are "not graded" with the reason; `--stage all` runs every check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _pytest.outcomes import OutcomeException
from botocore.exceptions import BotoCoreError, ClientError

from ecslab import facts
from grader.tiers.aws.lookup import LabNames
from grader.tiers.aws.readonly import ReadOnlyViolation
from grader.tiers.aws.world import AwsWorld, TierUnavailable, access_denied, credentials_problem, mask_requested, open_tier
from grader.project import CHECKS_DIR
from grader.feedback import CheckFailed, Text
from grader.catalogue import load_catalogue
from grader.plugin.state import check_module, grading_key, record_tier_unavailable
from grader.tiers.aws.stages import STAGE_NAMES, STAGES

AWS_DIR = CHECKS_DIR / "aws"
TIER_KEY = pytest.StashKey[AwsWorld]()
CURRENT_CHECKPOINT = pytest.StashKey[str]()
REPORT_FILE = "aws-tier.json"



def _is_aws_check(item: pytest.Item) -> bool:
    return AWS_DIR in Path(item.path).resolve().parents


def _stage_reason(stages: list[str], selected: str, lang: str) -> str:
    options = [f"--stage {stage}" for stage in stages]
    return Text(
        f"Non vérifié avec --stage {selected} : ce point se vérifie "
        f"{' ou '.join(STAGE_NAMES[s].fr for s in stages)} (relancez avec {' ou '.join(options)}).",
        f"Not verified with --stage {selected}: this point is verified "
        f"{' or '.join(STAGE_NAMES[s].en for s in stages)} (run again with {' or '.join(options)}).",
    )(lang)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every aws check declares its stages; those of other stages are skipped (not graded)."""
    selected = config.getoption("stage")
    lang = config.stash[grading_key].lang
    for item in items:
        if not _is_aws_check(item):
            continue
        stages = [stage for marker in item.iter_markers("stage") for stage in marker.args]
        unknown = [s for s in stages if s not in STAGES]
        if not stages or unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: an aws check needs @pytest.mark.stage(...) with stages among {', '.join(STAGES)}"
                + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        if selected != "all" and selected not in stages:
            item.add_marker(pytest.mark.skip(reason=_stage_reason(stages, selected, lang)))


@pytest.fixture(scope="package")
def world(pytestconfig: pytest.Config) -> AwsWorld:
    """The tier's read-only view of the account (not graded when it cannot be opened)."""
    state = pytestconfig.stash[grading_key]
    mask = mask_requested(os.environ, _option(pytestconfig, "mask_account"))
    try:
        tier = open_tier(pytestconfig.getoption("profile"), pytestconfig.getoption("region"),
                         mask_account=mask, lang=state.lang)
    except TierUnavailable as unavailable:
        reason = unavailable.reason(state.lang)
        record_tier_unavailable(pytestconfig, "aws", reason)
        pytest.skip(reason)
    tier.checkpoint = pytestconfig.stash.get(CURRENT_CHECKPOINT, "")
    pytestconfig.stash[TIER_KEY] = tier
    return tier


@pytest.fixture
def account(world: AwsWorld):
    """The account as every tier gives it to a check (here: read-only, nothing to reset)."""
    return world.reset()


@pytest.fixture(scope="package")
def names(world: AwsWorld) -> LabNames:
    """The lab's names in this account and region (bucket, repository URIs, role ARNs)."""
    return LabNames(world.account_id, world.region, registry=world.ecr_registry)


def _option(config: pytest.Config, name: str):
    try:
        return config.getoption(name)
    except ValueError:  # the option is not defined (yet) by the plugin
        return None


# ---- what leaves a check: masked, secrets removed, credential problems not graded ------------

def _clean(item: pytest.Item, error: BaseException) -> BaseException | None:
    """A replacement for `error` fit for the reports, or None to keep it as it is."""
    tier = item.config.stash.get(TIER_KEY, None)
    if isinstance(error, ReadOnlyViolation):
        return None  # a grader bug: propagates as is (the run fails, see pytest_sessionfinish)
    if isinstance(error, (ClientError, BotoCoreError)):
        reason = credentials_problem(error, item.config.getoption("profile") or facts.PROFILE)
        if reason is not None:  # the session expired during the run: not the student's fault
            text = reason(item.config.stash[grading_key].lang)
            record_tier_unavailable(item.config, "aws", text)
            return pytest.skip.Exception(tier.redact(text) if tier else text, _use_item_location=False)
        denied = access_denied(error, item.config.getoption("profile") or facts.PROFILE)
        if denied is not None:  # the grader may not read this: not graded, never the student's failure
            text = denied(item.config.stash[grading_key].lang)
            return pytest.skip.Exception(tier.redact(text) if tier else text, _use_item_location=False)
    if tier is None:
        return None
    if isinstance(error, CheckFailed):
        error.message = tier.redact_value(error.message)
        error.expected = tier.redact_value(error.expected)
        error.seen = tier.redact_value(error.seen)
        error.hint = tier.redact_value(error.hint) if error.hint is not None else None
        AssertionError.__init__(error, error.render("en"))
        return None
    if isinstance(error, OutcomeException):
        error.msg = tier.redact(error.msg or "")
        return None
    if isinstance(error, Exception):
        return AwsCheckError(tier.redact(f"{type(error).__name__}: {error}"))
    return None


class AwsCheckError(Exception):
    """An unexpected error of an aws check, its message redacted."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    if _is_aws_check(item):  # the evidence a check notes goes to its checkpoint (the catalogue's, by module)
        checkpoint = load_catalogue().by_module().get(check_module(item) or "", ("", None))[1]
        item.config.stash[CURRENT_CHECKPOINT] = checkpoint.id if checkpoint else ""
        if TIER_KEY in item.config.stash:
            item.config.stash[TIER_KEY].checkpoint = item.config.stash[CURRENT_CHECKPOINT]
    try:
        return (yield)
    except BaseException as error:  # noqa: BLE001 - cleaned, then raised again
        _raise_clean(item, error)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    try:
        return (yield)
    except BaseException as error:  # noqa: BLE001 - cleaned, then raised again
        _raise_clean(item, error)


def _raise_clean(item: pytest.Item, error: BaseException):
    replacement = _clean(item, error) if _is_aws_check(item) else None
    if replacement is None:
        raise error
    raise replacement from None


# ---- the run's record: calls made, calls refused --------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the tier's call log and evidence; a refused call fails the run (exit status 3)."""
    tier = session.config.stash.get(TIER_KEY, None)
    if tier is None:
        return
    state = session.config.stash[grading_key]
    state.report_dir.mkdir(parents=True, exist_ok=True)
    data = tier.report_data(session.config.getoption("stage"))
    (state.report_dir / REPORT_FILE).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n",
                                                encoding="utf-8")
    if tier.recorder.refused:
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    tier = config.stash.get(TIER_KEY, None)
    if tier is None:
        return
    calls = len(tier.recorder.calls)
    refused = tier.recorder.refused
    terminalreporter.write_line(
        f"aws tier: {calls} AWS call(s), all read-only, account {tier.redact(tier.account_id)}, "
        f"region {tier.region}" if not refused else
        f"aws tier: REFUSED {len(refused)} non-read call(s): "
        + ", ".join(f"{c.service}:{c.operation}" for c in refused) + " (grader bug; nothing was sent)",
        red=bool(refused), bold=bool(refused))
