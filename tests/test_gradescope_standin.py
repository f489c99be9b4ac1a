"""Official grades where instructors compute them: Gradescope's autograder, in a stand-in container.

The bundle is installed by its own setup.sh into a container of the project's base image, as
Gradescope does (root, network on), and every submission is graded in a fresh container of the
image that made: root, Docker's default seccomp profile (bubblewrap is refused there), 384 MB and a
quarter of a CPU for the reference and the template (Gradescope's tightest documented limits), one
CPU for the hostile submissions (the same memory: only the time differs). There the grader confines
the student's code without namespaces (grader/worker/sandbox.py), and every attack is stopped or
flagged. The same grader run as an ordinary user (a laptop without bubblewrap) is tested in the same
image, with the protections an unprivileged process can give.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from gradescope_support import CPUS, MEMORY, Standin, StandinRun, build_standin, copy_submission
from grading_support import CATALOGUE, OFFLINE, ROOT
from submissions.hostile import HOSTILE, Hostile, OutsideServer, materialise

REQUIRED_OFFLINE = sum(c.points for c in CATALOGUE.checkpoints if c.id in OFFLINE and not c.bonus)
BONUS_OFFLINE = sum(c.points for c in CATALOGUE.checkpoints if c.id in OFFLINE and c.bonus)
TEMPLATE_SCORE = 13  # the points of the files the lab provides (stacks, web_task_definition)
STUDENT_FILES = ("image_classifier_operations.py", "s3_io.py")
INSIDE = {"project": Path("/autograder/source"), "report_dir": Path("/autograder/results/ecs-lab")}
FLAGGED = "Signalé à l’enseignant"
MARKERS = itertools.count(5_930_000)
UNPRIVILEGED = [h for h in HOSTILE if h.process_mode]


@pytest.fixture(scope="session")
def standin(shared_dir: Path) -> Standin:
    return build_standin(shared_dir / "gradescope-standin")


@pytest.fixture(scope="module")
def bridge_server() -> Iterator[OutsideServer]:
    """A server on the host's Docker bridge: what a container reaches when its network is open."""
    import docker

    from standin.local_ecs.host_address import network_gateway

    client = docker.from_env()
    try:
        gateway = network_gateway(client.networks.get("bridge"))
    finally:
        client.close()
    with OutsideServer(gateway) as server:
        yield server


def _files(folder: Path, base: str) -> Path:
    return copy_submission({name: ROOT / base / name for name in STUDENT_FILES}, folder)


def _scores(results: dict) -> dict[str, float]:
    return {t["name"].rsplit("(", 1)[1].rstrip(")"): t["score"] for t in results["tests"]}


def _assert_complete(run: StandinRun, schema: dict) -> dict:
    assert run.exit_code == 0, run.explain()
    assert run.results is not None, run.explain()
    jsonschema.validate(run.results, schema)
    assert run.leftovers == [], f"processes left after run_autograder: {run.leftovers}\n{run.explain()}"
    assert "Traceback (most recent call last)" not in run.results["output"]
    return run.results


def _protections(results: dict) -> str:
    return "\n".join(results["extra_data"]["protections"])


@pytest.fixture(scope="module")
def template_run(standin: Standin, tmp_path_factory: pytest.TempPathFactory) -> StandinRun:
    folder = tmp_path_factory.mktemp("standin-template")
    return standin.run(_files(folder / "submission", "student_template"), results_dir=folder / "results")


def test_reference_and_template_at_gradescopes_tightest_limits(standin: Standin, template_run: StandinRun,
                                                               tmp_path: Path, gradescope_schema) -> None:
    """In a fresh container at 384 MB and a quarter of a CPU: the reference's full offline grade, the
    template's usual 13, neither flagged; results.json says how the code ran, and calls it official."""
    reference = standin.run(_files(tmp_path / "submission", "reference"), results_dir=tmp_path / "results")
    for run, expected in ((reference, REQUIRED_OFFLINE + BONUS_OFFLINE), (template_run, TEMPLATE_SCORE)):
        results = _assert_complete(run, gradescope_schema)
        assert results["score"] == expected, run.explain()
        assert FLAGGED not in results["output"], results["output"]
        protections = _protections(results)
        for said in ("sans bac à sable bubblewrap", "utilisateur non privilégié propre à cette notation",
                     "filtre seccomp", "réseau : vérifié refusé", "vérifiés illisibles par le code étudiant",
                     "le noyau arrête le code étudiant en premier"):
            assert said in protections, protections
        assert "Comment votre code a été exécuté" in results["output"]
        assert "horloge virtuelle : toutes les attentes" in protections, protections  # setup.sh built the shim
        assert "note officielle" not in results["output"] and "ATTENTION" not in protections, protections
    assert f"{MEMORY}" == "384m" and CPUS == 0.25


@pytest.mark.parametrize("hostile", [h for h in HOSTILE if h.gradescope], ids=lambda h: h.name)
def test_hostile_submission_in_a_gradescope_container(hostile: Hostile, standin: Standin, template_run: StandinRun,
                                                      bridge_server: OutsideServer, tmp_path: Path,
                                                      gradescope_schema) -> None:
    """Each attack gains nothing, the run ends with a valid results.json and exit 0, nothing of the
    student's user is left running, nothing reaches a server outside, and it is stopped or flagged."""
    marker = next(MARKERS)
    folder = materialise(hostile, tmp_path / "submission", marker=marker, outside=bridge_server.address, **INSIDE)
    run = standin.run(folder, cpus=1.0, results_dir=tmp_path / "results")
    results = _assert_complete(run, gradescope_schema)
    assert_gains_nothing(hostile, results, template_run.results)
    if hostile.flagged:
        assert FLAGGED in results["output"], results["output"]
    assert str(marker).encode() not in bridge_server.received(), f"{hostile.name} reached a server outside"
    shown = json.dumps(results, ensure_ascii=False)
    assert not [t for t in hostile.leaks if t in shown], f"{hostile.name}: the grader's files reached the feedback"


def assert_gains_nothing(hostile: Hostile, results: dict, template: dict) -> None:
    scores, baseline = _scores(results), _scores(template)
    if hostile.base == "reference":
        points = {c.id: c.points for c in CATALOGUE.checkpoints}
        lost = {i for i in OFFLINE if scores[i] < points[i]}
        assert lost == set(hostile.loses), f"{hostile.name} should lose exactly {sorted(hostile.loses)}: {lost}"
    else:
        gained = {i: (scores[i], baseline[i]) for i in scores if scores[i] > baseline[i]}
        assert not gained, f"{hostile.name} gained over the template: {gained}"


# --- An unprivileged user without bubblewrap (a laptop) ----------------------------------------------


@pytest.mark.parametrize("hostile", [None, *UNPRIVILEGED], ids=lambda h: h.name if h else "reference")
def test_unprivileged_user_without_bubblewrap(hostile: Hostile | None, standin: Standin,
                                              bridge_server: OutsideServer, tmp_path: Path,
                                              gradescope_schema) -> None:
    """The grader run by an ordinary user (uid 1000) from a checkout, in the same container: the
    student's code keeps the user's rights, and Landlock, seccomp and the process tracking still hold."""
    marker = next(MARKERS)
    if hostile is None:
        folder = _files(tmp_path / "submission", "reference")
    else:
        folder = materialise(hostile, tmp_path / "submission", marker=marker, outside=bridge_server.address,
                             project=Path("/project"), report_dir=Path("/reports"))
    run = standin.run_as_user(folder, results_dir=tmp_path / "reports")
    assert run.exit_code == 0, run.explain()
    report = json.loads((tmp_path / "reports" / "report.json").read_text(encoding="utf-8"))
    jsonschema.validate(json.loads((tmp_path / "reports" / "results.json").read_text(encoding="utf-8")),
                        gradescope_schema)
    assert run.leftovers == [], run.explain()
    protections = "\n".join(report["protections"])
    for said in ("n'est pas root : pas d'utilisateur séparé", "Landlock", "filtre seccomp", "réseau : vérifié refusé",
                 "vérifiés illisibles par le code étudiant"):
        assert said in protections, protections
    if hostile is None:
        assert report["score"] == REQUIRED_OFFLINE and not report["flags"], run.explain()
        return
    assert report["score"] <= TEMPLATE_SCORE, run.explain()
    if hostile.flagged:
        assert report["flags"], run.explain()
    assert str(marker).encode() not in bridge_server.received()
