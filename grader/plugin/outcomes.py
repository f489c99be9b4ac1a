"""Every check's result: made where the check ran (its verdict, or why it is not graded) and carried by
pytest's own report, so that `pytest -n` gives the serial grade (pytest-xdist sends reports to the
controller); gathered in the run's state by :class:`ResultCollector`."""

from __future__ import annotations

import json

import pytest

from grader import i18n
from grader.feedback import CheckFailed, NotGraded
from grader.plugin.state import PROPERTY, GradingState, check_module, grading_key


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    module = check_module(item)
    if module is None:
        return report
    state = item.config.stash[grading_key]
    result = item.stash.setdefault(_result_key, {
        "nodeid": item.nodeid, "name": item.name, "tier": module.split("/", 1)[0], "outcome": "passed",
        "weight": _weight(item), "message": "", "duration_s": 0.0})
    result["duration_s"] = round(result["duration_s"] + report.duration, 3)
    error = call.excinfo.value if call.excinfo is not None else None
    if report.failed and isinstance(error, CheckFailed) and report.when in ("setup", "call"):
        if result["outcome"] != "failed":
            result["outcome"], result["message"], result["key"] = "failed", error.render(state.lang), error.key
    elif report.failed:
        # Not a verdict on the student's work: the grader itself failed (its set-up, an emulator
        # gap, its own time limit...). The check is not graded, with the reason.
        reason = _grader_failure(error, call, item, state.lang)
        result["outcome"], result["message"] = "skipped", reason
        note = i18n.harness_error(f"{item.nodeid}: {reason}", state.lang)
        if note not in state.notes:
            state.notes.append(note)
    elif report.skipped and result["outcome"] == "passed":
        result["outcome"], result["message"] = "skipped", _skip_reason(report)
    if report.when == "teardown" or (report.when == "setup" and not report.passed):
        report.user_properties.append((PROPERTY, json.dumps({
            "result": result, "module": module, "tier_reasons": state.tier_reasons, "notes": state.notes,
            "run_failure": state.run_failure,
            "flags": state.flags, "protections": state.protections})))
    return report


_result_key = pytest.StashKey[dict]()


def _weight(item: pytest.Item) -> float:
    marker = item.get_closest_marker("weight")
    return float(marker.args[0]) if marker else 1.0


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _grader_failure(error: BaseException | None, call: pytest.CallInfo, item: pytest.Item, lang: str) -> str:
    if error is None:
        return i18n.harness_error("?", lang)
    if isinstance(error, NotGraded):
        return i18n.harness_error(error.reason(lang), lang)
    text = str(error)
    if "Timeout" in text and "pytest-timeout" in text:
        marker = item.get_closest_marker("timeout")
        return i18n.grader_timeout(marker.args[0] if marker else None, lang)
    detail = text if isinstance(error, CheckFailed) else f"{type(error).__name__}: {text}"
    return i18n.harness_error(detail[:600], lang)


class ResultCollector:
    """Every check's result arrives here, from this process or from a pytest-xdist worker."""

    def __init__(self, state: GradingState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.state
        for name, value in report.user_properties:
            if name != PROPERTY:
                continue
            data = json.loads(value)
            state.active = True
            state.results[data["result"]["nodeid"]] = data["result"]
            state.module_of[data["result"]["nodeid"]] = data["module"]
            for tier, reason in data["tier_reasons"].items():
                state.tier_reasons.setdefault(tier, reason)
            state.run_failure = state.run_failure or data.get("run_failure", "")
            for key in ("notes", "flags", "protections"):
                target = getattr(state, key)
                target += [v for v in data[key] if v not in target]
