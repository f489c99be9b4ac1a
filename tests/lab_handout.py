"""LAB.md's command blocks, run in order against the sandbox (`ecs-lab sandbox`), as a student runs them.

The handout is the test's script: every ```bash block of LAB.md, from the top to "## Dépannage",
in document order, in one bash session (variables set by one block are used by the next), in a
copy of the project whose student_template/ holds the reference solution. A line just before a
block tells how the sandbox run treats it:

    <!-- sandbox: skip: <reason> -->     not run (AWS only, an alternative the run does not take,
                                          a placeholder to fill in, runs until Ctrl+C)
    <!-- sandbox: only -->               run (the sandbox's version of a step; AWS students skip it)
    <!-- sandbox: shows-a-failure -->    run without `set -e` (the block demonstrates an error)

Every other block runs with `set -e -o pipefail`: a failing command stops the run, and the test
names the block and its line. Each `pytest` of the handout writes its reports into a folder of
its own; `Handout.grades()` reads them back.

What the test changes in the text, and why (`SUBSTITUTIONS`): this machine has no Internet, so
the photos of `IMAGE_1..3` (and the default URL of `ecs-lab run-classifier`) are served by a
local server on the Docker bridge's gateway, and https://example.com/inexistant.jpg is that
server's 404; and the placeholder [TASK-ID] becomes the id of the cluster's last stopped task.
Nothing else is changed.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from fresh_copy import copy_project

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "LAB.md"
END_HEADING = "## Dépannage"
STEP_HEADINGS = ("Étape", "Points de contrôle", "Validation")  # a ### heading that is a step of its own
MARKER = re.compile(r"^<!-- sandbox: (skip|only|shows-a-failure)(?::\s*(.*?))? -->$")
IMAGE_URLS = {  # LAB.md's photos -> the local server's route
    "https://huggingface.co/datasets/Xenova/transformers.js-docs/resolve/main/tiger.jpg": "tiger.png",
    "http://images.cocodataset.org/val2017/000000039769.jpg": "cats.png",
    "https://upload.wikimedia.org/wikipedia/commons/thumb/d/d9/Motorboat_at_Kankaria_lake.JPG/"
    "960px-Motorboat_at_Kankaria_lake.JPG": "boat.png",
    "https://example.com/inexistant.jpg": "missing",
}
PHOTOS = {"tiger.png": "chelsea.png", "cats.png": "coffee.png", "boat.png": "astronaut.png"}  # scikit-image's


@dataclass
class Block:
    number: int
    line: int  # of the opening fence in LAB.md
    heading: str  # the section it belongs to
    code: str
    marker: str | None = None  # skip, only, shows-a-failure
    reason: str = ""
    step: str = ""  # the handout's step or section ("Étape 2" for a block under a sub-heading of step 2)

    @property
    def runs(self) -> bool:
        return self.marker != "skip"


def lab_blocks(text: str | None = None) -> list[Block]:
    """Every ```bash block of LAB.md before "## Dépannage", with its marker."""
    lines = (LAB.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks: list[Block] = []
    heading, step, previous, index = "", "", "", 0
    while index < len(lines):
        line = lines[index]
        if line.startswith(END_HEADING):
            break
        if line.startswith("#") and not line.startswith("#!"):
            heading = line.lstrip("#").strip()
            if line.startswith("## ") or heading.startswith(STEP_HEADINGS):
                step = heading.split(":")[0].strip()
        if line.strip() == "```bash":
            start, body = index + 1, []
            index += 1
            while lines[index].strip() != "```":
                body.append(lines[index])
                index += 1
            marker = MARKER.match(previous.strip())
            blocks.append(Block(len(blocks) + 1, start, heading, "\n".join(body) + "\n",
                                marker[1] if marker else None, (marker[2] or "") if marker else "", step))
        if line.strip():
            previous = line
        index += 1
    return blocks


# ---------------------------------------------------------------------------
# The photos, served where containers (and curl through the sandbox's proxy) reach them


class PhotoServer:
    def __init__(self, bind: str) -> None:
        import skimage.data

        folder = Path(skimage.data.__file__).parent

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = PHOTOS.get(self.path.lstrip("/").split("?")[0])
                body = (folder / name).read_bytes() if name else b"not found"
                self.send_response(200 if name else 404)
                self.send_header("Content-Type", "image/png" if name else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer((bind, 0), Handler)
        self.base = f"http://{bind}:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def docker_bridge_gateway() -> str:
    """The host's address on Docker's default bridge, found as the local ECS finds its own network's."""
    import docker

    from standin.local_ecs.host_address import network_gateway

    client = docker.from_env()
    try:
        gateway = network_gateway(client.networks.get("bridge"))
    finally:
        client.close()
    if gateway is None:
        raise RuntimeError("Docker's default bridge has no address on this host (neither a gateway nor docker0)")
    return gateway


def substitutions(photos: PhotoServer) -> list[tuple[str, str]]:
    pairs = [(url, f"{photos.base}/{route}") for url, route in IMAGE_URLS.items()]
    # `ecs-lab run-classifier` alone classifies the tiger of the Internet: the same photo, served here.
    pairs.append(("ecs-lab run-classifier\n", 'ecs-lab run-classifier --image-url "$IMAGE_1"\n'))
    # The student reads [TASK-ID] in run-classifier's output: the test takes the last task of the cluster.
    pairs.append(("[TASK-ID]", "$(aws ecs list-tasks --cluster ecs-lab-cluster --desired-status STOPPED "
                               "--query 'taskArns[-1]' --output text | awk -F/ '{print $NF}')"))
    return pairs


# ---------------------------------------------------------------------------
# The project copy and the run


def project_copy(destination: Path) -> Path:
    """The project's tracked files, student_template/ holding the reference solution, the caches
    the builds need (the test model) linked in."""
    copy_project(destination)
    for name in ("image_classifier_operations.py", "s3_io.py"):
        shutil.copy2(ROOT / "reference" / name, destination / "student_template" / name)
    (destination / ".cache").mkdir(exist_ok=True)
    (destination / ".cache" / "models").symlink_to(ROOT / ".cache" / "models")
    return destination


PRELUDE = """\
set -o pipefail
LAB_PYTEST=0
pytest() {
  LAB_PYTEST=$((LAB_PYTEST + 1))
  local number=$LAB_PYTEST started=$EPOCHREALTIME status=0
  command python -m pytest -p no:cacheprovider -q "--report-dir=$LAB_REPORTS/$number" "$@" || status=$?
  echo "$number $started $EPOCHREALTIME $*" >> "$LAB_REPORTS/index"
  return $status
}
"""


@dataclass
class Handout:
    """One run of LAB.md's blocks; `selected` picks the blocks (all that run, by default)."""

    workdir: Path
    environment: dict[str, str]
    replacements: list[tuple[str, str]]
    name: str = "lab"  # its blocks and reports go to <workdir>/<name>-blocks, <name>-reports
    output: str = ""
    code: int = 0
    failed_block: Block | None = None
    blocks: list[Block] = field(default_factory=list)

    @property
    def reports(self) -> Path:
        return self.workdir / f"{self.name}-reports"

    def script(self, blocks: list[Block]) -> str:
        folder = self.workdir / f"{self.name}-blocks"
        folder.mkdir(exist_ok=True)
        parts = [PRELUDE]
        for index, block in enumerate(blocks):
            code = block.code
            for old, new in self.replacements:
                code = code.replace(old, new)
            path = folder / f"{index:03d}-{block.number:03d}.sh"
            path.write_text(code)
            strict = "set +e" if block.marker == "shows-a-failure" else "set -e"
            # A newline first: a block's output may not end with one (aws s3 cp ... -).
            label = shlex.quote(f"{block.number} (LAB.md line {block.line}, {block.heading})")
            parts.append(f"printf '\\n@@ block %s @%s\\n' {label} \"$EPOCHREALTIME\"\n"
                         f"{strict}\nsource {path}\nset +e\n")
        parts.append('printf "\\n@@ done @%s\\n" "$EPOCHREALTIME"\n')
        return "".join(parts)

    def run(self, blocks: list[Block], timeout: float = 900) -> Handout:
        self.blocks = blocks
        self.reports.mkdir(exist_ok=True)
        environment = {**self.environment, "LAB_REPORTS": str(self.reports)}
        process = subprocess.run(["bash", "-c", self.script(blocks)], cwd=self.workdir, env=environment,
                                 capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        self.output, self.code = process.stdout + process.stderr, process.returncode
        ran = re.findall(r"^@@ block (\d+)", process.stdout, re.MULTILINE)
        if "@@ done" not in process.stdout:
            number = int(ran[-1]) if ran else 0
            self.failed_block = next((b for b in blocks if b.number == number), None)
        return self

    def pytest_runs(self) -> list[tuple[str, float, dict]]:
        """(arguments, seconds, report.json) of every pytest the handout ran, in order."""
        index = self.reports / "index"
        runs = []
        for line in (index.read_text().splitlines() if index.is_file() else []):
            number, started, ended, *arguments = line.split(" ")
            report = self.reports / number / "report.json"
            runs.append((" ".join(arguments), float(ended) - float(started),
                         json.loads(report.read_text()) if report.is_file() else {}))
        return runs

    def grades(self) -> list[tuple[str, dict]]:
        """(the pytest command's arguments, its report.json) of every pytest the handout ran."""
        return [(arguments, report) for arguments, _, report in self.pytest_runs()]

    def block_times(self) -> list[tuple[Block, float]]:
        """(block, seconds) of every block that ran (its own time, its pytest included)."""
        marks = [(int(n) if n != "done" else None, float(t)) for n, t in
                 re.findall(r"^@@ (?:block )?(\d+|done)\b.* @([0-9.,]+)$", self.output.replace(",", "."), re.MULTILINE)]
        by_number = {b.number: b for b in self.blocks}
        return [(by_number[number], later - at) for (number, at), (_, later) in zip(marks, marks[1:])
                if number is not None and number in by_number]


def merged(runs: list[tuple[str, dict]]) -> dict[str, tuple[str, float]]:
    """checkpoint -> (status, score): each checkpoint as graded by the handout's checkpoint commands,
    each at its step (the best of the runs that graded it)."""
    best: dict[str, tuple[str, float]] = {}
    for _, report in runs:
        for checkpoint in report.get("checkpoints", []):
            if checkpoint["status"] == "not_graded":
                continue
            current = best.get(checkpoint["id"])
            if current is None or checkpoint["score"] > current[1]:
                best[checkpoint["id"]] = (checkpoint["status"], checkpoint["score"])
    return best


def sandbox_environment(home: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    """A student's shell on this machine: no AWS or proxy settings of ours, the lab's copy first."""
    from sandbox_support import clean_environment

    environment = {k: v for k, v in clean_environment().items() if not k.startswith(("ECS_LAB_", "PYTEST_"))
                   and k != "CI"}
    environment.update(ECS_LAB_SANDBOX_HOME=str(home), ECS_LAB_SANDBOX_PORT=str(port), PYTHONDONTWRITEBYTECODE="1",
                       PATH=f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}", **extra)
    return environment



# ---------------------------------------------------------------------------
# Runs that stray from the handout


def section_index(blocks: list[Block], heading: str) -> int:
    """Index of the first block under a heading starting with `heading`."""
    return next(i for i, b in enumerate(blocks) if b.heading.startswith(heading))


_EXTRA_NUMBERS = itertools.count(901)


def extra_block(code: str, heading: str) -> Block:
    """A block that is not LAB.md's: what the test does in place of the student (waits, grades)."""
    return Block(next(_EXTRA_NUMBERS), 0, heading, code.strip() + "\n")


def grade_block(stage: str) -> Block:
    return extra_block(f"pytest --tier aws --profile aws-labs --stage {stage}", f"the test: grade, --stage {stage}")


# Time passes until both tasks answer behind the ALB (what `aws ecs wait services-stable` waits for,
# without its first 15 s pause): two RUNNING tasks, two hostnames answering through the ALB.
SERVICE_STABLE = extra_block("""
ALB=$(aws cloudformation describe-stacks --stack-name ecs-lab-infrastructure \\
  --query 'Stacks[0].Outputs[?OutputKey==`LoadBalancerDNS`].OutputValue' --output text --profile aws-labs)
for attempt in $(seq 120); do
  running=$(aws ecs describe-services --cluster ecs-lab-cluster --services web-service \\
    --query 'services[0].runningCount' --output text --profile aws-labs)
  hosts=$(for i in 1 2 3 4; do curl -s "http://$ALB/"; echo; done | { grep -o '"hostname":"[^"]*"' || true; } \\
    | sort -u | wc -l)
  [ "$running" = 2 ] && [ "$hosts" = 2 ] && break
  sleep 1
done
""", "the test: time passes (the service becomes stable)")
SANDBOX_DOWN = extra_block("ecs-lab sandbox down", "the test: the sandbox stops")
