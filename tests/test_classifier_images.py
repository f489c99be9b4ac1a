"""Build context and build helpers of the classifier image, the pruning of its virtual
environment (builder/slim_venv.py) on a fake venv, and, with a Docker engine, the size of the
built image and what still imports in it."""
from __future__ import annotations

import contextlib
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from classifier_support.fixtures import test_model_dir  # noqa: F401 - fixture
from classifier_support.paths import CLASSIFIER_DIR, REPO, s3_io_dir


@pytest.fixture(scope="module")
def images():
    """``ecslab.images``, unloaded afterwards: other tests replace it in sys.modules with a fake,
    which a leftover ``ecslab.images`` attribute on the package would shadow."""
    import ecslab

    loaded_before = "ecslab.images" in sys.modules
    module = importlib.import_module("ecslab.images")
    yield module
    if not loaded_before:
        sys.modules.pop("ecslab.images", None)
        if getattr(ecslab, "images", None) is module:
            delattr(ecslab, "images")


def test_context_has_code_student_module_and_empty_model_dir(images, tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "s3_io.py").write_text("# student's module\n")
    (submission / "image_classifier_operations.py").write_text("# not for the image\n")
    ctx = images.prepare_classifier_context(submission, tmp_path / "ctx")
    names = {p.name for p in ctx.iterdir()}
    assert {"Dockerfile", ".dockerignore", "requirements.txt", "classifier.py", "model.py", "hub", "builder"} <= names
    assert (ctx / "builder" / "slim_venv.py").is_file()
    assert (ctx / "s3_io.py").read_text() == "# student's module\n"
    assert "image_classifier_operations.py" not in names
    assert [p.name for p in (ctx / "model").iterdir()] == [".keep"]
    assert not list(ctx.rglob("__pycache__"))


def test_context_without_s3_io_and_with_local_model(images, tmp_path):
    model = tmp_path / "m"
    (model / "onnx").mkdir(parents=True)
    (model / "onnx" / "model.onnx").write_bytes(b"onnx")
    (model / "config.json").write_text("{}")
    (model / "build_info.json").write_text("{}")
    ctx = images.prepare_classifier_context(tmp_path / "empty-submission", tmp_path / "ctx", model_dir=model)
    assert not (ctx / "s3_io.py").exists()
    assert sorted(p.relative_to(ctx / "model").as_posix() for p in (ctx / "model").rglob("*")) == \
        ["config.json", "onnx", "onnx/model.onnx"]


def test_context_refuses_a_directory_that_is_not_a_model(images, tmp_path):
    with pytest.raises(images.ImageBuildError, match="not a model directory"):
        images.prepare_classifier_context(None, tmp_path / "ctx", model_dir=tmp_path)


class FakeAPI:
    def __init__(self, chunks):
        self.chunks, self.calls = chunks, []

    def build(self, **kwargs):
        self.calls.append(kwargs)
        return iter(self.chunks)


class FakeImages:
    def get(self, tag):
        return type("Image", (), {"id": "sha256:feed"})()


class FakeDocker:
    def __init__(self, chunks):
        self.api, self.images = FakeAPI(chunks), FakeImages()


def test_build_passes_build_args_and_returns_the_image_id(images, tmp_path):
    docker = FakeDocker([{"stream": "Step 1/2 : FROM base\n"}, {"stream": "Successfully built feed\n"}])
    image_id = images.build_classifier_image(docker, REPO / "reference", "ecs-lab/image-classifier:test",
                                             base_image="ecs-lab/python:3.11", network_mode="host")
    assert image_id == "sha256:feed"
    call = docker.api.calls[0]
    assert call["buildargs"] == {"MODEL_SOURCE": "hub", "BASE_IMAGE": "ecs-lab/python:3.11"}
    assert call["network_mode"] == "host" and call["tag"] == "ecs-lab/image-classifier:test"
    assert call["platform"] == "linux/amd64"  # Fargate's default architecture


def test_build_failure_reports_the_log_tail(images):
    lines = [{"stream": f"line {i}\n"} for i in range(50)]
    docker = FakeDocker(lines + [{"error": "The command '/bin/sh -c pip install' returned a non-zero code: 1",
                                  "errorDetail": {"message": "returned a non-zero code: 1"}}])
    with pytest.raises(images.ImageBuildError) as info:
        images.build_web_image(docker, "ecs-lab/web-app:test")
    err = info.value
    assert "non-zero code" in str(err) and "line 49" in err.log_tail and "line 10" not in err.log_tail
    assert err.key == "build_failed" and err.params["what"] == "web-app"


def test_dockerfile_conventions():
    text = (CLASSIFIER_DIR / "Dockerfile").read_text()
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert instructions[0] == "ARG BASE_IMAGE=python:3.11-slim"
    assert "FROM model-${MODEL_SOURCE} AS model" in text
    assert re.search(r"ARG MODEL_ID=onnx-community/mobilenetv3_small_100\.lamb_in1k", text)
    final_stage = text[text.rindex("\nFROM "):]
    assert "USER classifier" in final_stage and "COPY --from=builder /opt/venv /opt/venv" in final_stage
    assert "pip install" not in final_stage and "apt-get" not in text
    for requirements in ("requirements.txt", "hub/requirements.txt"):
        for line in (CLASSIFIER_DIR / requirements).read_text().splitlines():
            if line and not line.startswith("#"):
                assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.]+", line), line


FAKE_HUB = '''
import json, os
from pathlib import Path
FILES = ["README.md", "config.json", "preprocessor_config.json", "onnx/model.onnx",
         "onnx/model_fp16.onnx", "onnx/model_quantized.onnx"]
class _Info:
    sha = "0123abcd"
class HfApi:
    def model_info(self, repo_id, revision=None):
        assert revision == "main"
        return _Info()
    def list_repo_files(self, repo_id, revision=None):
        assert revision == "0123abcd"
        return FILES
def hf_hub_download(repo_id, filename, revision=None, local_dir=None):
    path = Path(local_dir) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(filename)
    (Path(local_dir) / ".cache").mkdir(exist_ok=True)
    with open(os.environ["FAKE_HUB_LOG"], "a") as log:
        log.write(filename + "\\n")
    return str(path)
'''


def test_fetch_model_downloads_only_what_the_classifier_reads(tmp_path):
    import os
    import subprocess
    import sys

    fake = tmp_path / "fake" / "huggingface_hub"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(FAKE_HUB)
    log, dest = tmp_path / "downloads.txt", tmp_path / "model"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake.parent), str(CLASSIFIER_DIR)]),
               FAKE_HUB_LOG=str(log))
    proc = subprocess.run([sys.executable, str(CLASSIFIER_DIR / "hub" / "fetch_model.py"),
                           "onnx-community/some-model", "main", str(dest)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert sorted(log.read_text().split()) == ["config.json", "onnx/model.onnx", "preprocessor_config.json"]
    assert not (dest / ".cache").exists()
    assert (dest / "model_info.json").read_text().count("0123abcd") == 1


def test_dockerfile_slims_the_venv_in_the_builder_stage():
    text = (CLASSIFIER_DIR / "Dockerfile").read_text()
    builder = text[text.index("AS builder"):]
    builder = builder[:builder.index("\nFROM ")]
    assert builder.index("pip install") < builder.index("COPY builder/slim_venv.py /tmp/slim_venv.py") \
        < builder.index("/opt/venv/bin/python -B /tmp/slim_venv.py /opt/venv")


# --- builder/slim_venv.py on a fake virtual environment -------------------------------------------

SLIM_SCRIPT = CLASSIFIER_DIR / "builder" / "slim_venv.py"
SITE = "lib/python3.11/site-packages"
KEPT = [
    "bin/activate",
    f"{SITE}/botocore/__init__.py",
    *(f"{SITE}/botocore/data/{name}" for name in (
        "_retry.json", "endpoints.json", "partitions.json", "sdk-default-configuration.json",
        "some-new-top-level-file.json")),
    *(f"{SITE}/botocore/data/{service}/2020-01-01/service-2.json.gz"
      for service in ("s3", "signin", "sso", "sso-oidc", "sts")),
    f"{SITE}/boto3/data/s3/2006-03-01/resources-1.json",
    f"{SITE}/onnxruntime/__init__.py",
    f"{SITE}/onnxruntime/capi/_pybind_state.py",
    f"{SITE}/onnxruntime/capi/libonnxruntime_providers_shared.so",
    f"{SITE}/onnxruntime/capi/onnxruntime_pybind11_state.cpython-311-x86_64-linux-gnu.so",
    f"{SITE}/numpy/__init__.py",
    f"{SITE}/numpy/_core/__init__.py",
    f"{SITE}/numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so",
    f"{SITE}/numpy/linalg/__init__.py",
    f"{SITE}/numpy/testing/__init__.py",
    f"{SITE}/PIL/Image.py",
    f"{SITE}/certifi/tests/__init__.py",  # tests of other packages are not looked for
]
REMOVED = [
    "bin/f2py", "bin/onnxruntime_test", "bin/jp.py",
    f"{SITE}/botocore/data/ec2/2016-11-15/service-2.json.gz",
    f"{SITE}/botocore/data/lambda/2015-03-31/service-2.json.gz",
    f"{SITE}/boto3/data/ec2/2016-11-15/resources-1.json",
    f"{SITE}/onnxruntime/tools/__init__.py",
    f"{SITE}/onnxruntime/transformers/models/bert.py",
    f"{SITE}/onnxruntime/quantization/quantize.py",
    f"{SITE}/onnxruntime/capi/libonnxruntime.so.1.32.0",
    f"{SITE}/numpy/__init__.pyi",
    f"{SITE}/numpy/__init__.pxd",
    f"{SITE}/numpy/f2py/__init__.py",
    f"{SITE}/numpy/f2py/tests/test_f2py.py",
    f"{SITE}/numpy/distutils/__init__.py",
    f"{SITE}/numpy/_pyinstaller/hook-numpy.py",
    f"{SITE}/numpy/_core/include/numpy/ndarraytypes.h",
    f"{SITE}/numpy/_core/lib/libnpymath.a",
    f"{SITE}/numpy/_core/tests/test_multiarray.py",
    f"{SITE}/numpy/linalg/tests/test_linalg.py",
    f"{SITE}/PIL/_imaging.pyi",
]
LINKS = {"bin/python": "python3.11", "bin/python3": "python3.11", "bin/python3.11": "/usr/bin/python3.11"}


def fake_venv(root: Path) -> Path:
    for rel in KEPT + REMOVED:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * 100)
    for rel, target in LINKS.items():
        (root / rel).symlink_to(target)
    return root


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def slim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-B", str(SLIM_SCRIPT), *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_slim_venv_keeps_what_the_classifier_uses(tmp_path):
    venv = fake_venv(tmp_path / "venv")
    proc = slim(str(venv))
    assert proc.returncode == 0, proc.stderr
    assert tree(venv) == set(KEPT) | set(LINKS)
    assert os.readlink(venv / "bin/python3.11") == "/usr/bin/python3.11"
    assert not (venv / SITE / "botocore/data/ec2").exists() and not (venv / SITE / "numpy/f2py").exists()
    lines = proc.stdout.splitlines()
    assert any("botocore/data/ (other services)" in line for line in lines)
    assert any("onnxruntime/capi/libonnxruntime.so.*" in line for line in lines)
    assert lines[-1].startswith("slim_venv: removed") and "MB in all" in lines[-1]


def test_slim_venv_dry_run_removes_nothing(tmp_path):
    venv = fake_venv(tmp_path / "venv")
    before = tree(venv)
    proc = slim(str(venv), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "would remove" in proc.stdout and tree(venv) == before


@pytest.mark.parametrize("missing, message", [
    (f"{SITE}/botocore/data/sts", "botocore/data: kept entries missing: sts"),
    (f"{SITE}/botocore/data/endpoints.json", "botocore/data/endpoints.json: required file missing"),
    (f"{SITE}/onnxruntime/transformers", "onnxruntime/transformers: expected, not found"),
    (f"{SITE}/onnxruntime/capi/libonnxruntime.so.1.32.0", "onnxruntime/capi/libonnxruntime.so.*: expected"),
    (f"{SITE}/numpy", "numpy/f2py: expected, not found"),
], ids=["kept-service", "required-file", "removed-folder", "removed-library", "whole-package"])
def test_slim_venv_fails_and_removes_nothing_when_an_expected_path_is_missing(tmp_path, missing, message):
    """A version bump that moves a folder stops the build instead of silently not pruning."""
    venv = fake_venv(tmp_path / "venv")
    target = venv / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    before = tree(venv)
    proc = slim(str(venv))
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert "Update the lists of slim_venv.py" in proc.stderr
    assert tree(venv) == before


def test_slim_venv_without_test_folders_fails(tmp_path):
    venv = fake_venv(tmp_path / "venv")
    for tests in sorted((venv / SITE / "numpy").rglob("tests"), reverse=True):
        shutil.rmtree(tests)
    proc = slim(str(venv))
    assert proc.returncode == 1 and "numpy/**/tests: expected, not found" in proc.stderr


# --- the built image (Docker engine needed) -------------------------------------------------------

IMAGE_SIZE_LIMIT = 300_000_000  # bytes, "300MB" in `docker images` (342 MB before builder/slim_venv.py)
TEST_TAG = "ecs-lab-test/image-classifier:slim-check"  # not ecs-lab-grader/: no leak for the local tier's tests

# What the classifier and the student's s3_io.py can use, in the built image: the S3 client
# and resource, the clients the credential providers create (assume role, SSO, login), an
# inference with the baked model, image decoding; and botocore's other services are gone.
IMAGE_CHECK = r'''
import glob
import boto3, botocore.exceptions, numpy as np, onnxruntime as ort, pyspng
from PIL import Image, features
session = boto3.Session()
for service in ("s3", "sts", "sso", "sso-oidc", "signin"):
    session.client(service, region_name="eu-west-1")
session.resource("s3", region_name="eu-west-1").Bucket("b").Object("k")
try:
    session.client("ec2", region_name="eu-west-1")
    raise SystemExit("ec2 model still in the image")
except botocore.exceptions.UnknownServiceError:
    pass
model = sorted(glob.glob("/app/model/onnx/*.onnx"))[0]
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
name = sess.get_inputs()[0].name
out = sess.run(None, {name: np.zeros((1, 3, 224, 224), dtype=np.float32)})[0]
assert out.shape[-1] == 1000, out.shape
assert all(features.check(f) for f in ("jpg", "zlib", "webp")), "Pillow codecs"
Image.new("RGB", (8, 8)).convert("L")
import io
buf = io.BytesIO()
Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, "PNG")
assert pyspng.load(buf.getvalue(), format="RGB").shape == (8, 8, 3), "libspng (image_input.py)"
print("image check ok", ort.__version__, np.__version__)
'''


@pytest.fixture(scope="module")
def built_image(images, test_model_dir):  # noqa: F811 - fixture
    from local_tier_support.docker_state import docker_client_or_skip

    client = docker_client_or_skip()
    settings = images.docker_settings()
    network = "host" if settings.get("ECS_LAB_BUILD_NETWORK") == "host" else None
    try:
        # The reference s3_io.py, like the local tier's run of the reference: the layers are shared.
        images.build_classifier_image(client, s3_io_dir(), TEST_TAG, model_dir=test_model_dir,
                                      base_image=settings.get("ECS_LAB_BASE_IMAGE"), network_mode=network)
        yield client, TEST_TAG
    finally:
        with contextlib.suppress(Exception):
            client.images.remove(TEST_TAG, noprune=True)  # the build cache stays
        client.close()


def test_built_image_is_at_most_300_mb(built_image):
    client, tag = built_image
    size = int(client.images.get(tag).attrs["Size"])
    assert size <= IMAGE_SIZE_LIMIT, f"classifier image {size / 1e6:.1f} MB > {IMAGE_SIZE_LIMIT / 1e6:.0f} MB"


def test_built_image_still_imports_and_runs_what_the_classifier_uses(built_image):
    client, tag = built_image
    output = client.containers.run(tag, ["python", "-c", IMAGE_CHECK], remove=True, network_disabled=True)
    assert b"image check ok" in output


# The hard cases run in the image with the task's memory (2 GiB, as the lab's task definition):
# each ends with a classification or one line on stderr and exit 1, never the kernel's OOM kill (137).
CONTAINER_CASES = ("wide-20000x2.png", "tall-2x20000.png", "flat-7000x7000.png", "png-bomb-20000x20000.png",
                   "jpeg-declaring-60000x60000.jpg", "truncated.png", "one-pixel.png")


def test_hard_cases_in_the_image_with_the_tasks_memory(built_image, tmp_path):
    from classifier_support.corpus import HARD_CASES, hard_case, variant

    client, tag = built_image
    data = tmp_path / "data"
    data.mkdir()
    for name in CONTAINER_CASES:
        (data / name).write_bytes(hard_case(name))
    (data / "coffee-16bit.png").write_bytes(variant("png-16bit-grey"))
    data.chmod(0o755)
    outcomes = {}
    for name, lang in [(n, "fr") for n in CONTAINER_CASES] + [("coffee-16bit.png", "en"), ("truncated.png", "en")]:
        container = client.containers.run(tag, ["python", "classifier.py", f"/data/{name}"], detach=True,
                                          mem_limit="2g", memswap_limit="2g", network_disabled=True,
                                          environment={"ECS_LAB_LANG": lang},
                                          volumes={str(data): {"bind": "/data", "mode": "ro"}})
        try:
            code = container.wait(timeout=120)["StatusCode"]
            container.reload()
            oom = container.attrs["State"].get("OOMKilled")
            stdout = container.logs(stdout=True, stderr=False).decode()
            stderr = container.logs(stdout=False, stderr=True).decode()
        finally:
            container.remove(force=True)
        outcomes[(name, lang)] = (code, oom, stdout, stderr)
    problems = []
    for (name, lang), (code, oom, stdout, stderr) in outcomes.items():
        expected = "ok" if name == "coffee-16bit.png" else HARD_CASES[name][1]
        if oom or code not in (0, 1):
            problems.append(f"{name}: exit {code}, OOM killed {oom}")
        elif expected == "ok":
            if code != 0 or '"predictions"' not in stdout:
                problems.append(f"{name}: exit {code}: {stderr.strip()[-200:]}")
            elif name == "coffee-16bit.png" and '"label":"espresso"' not in stdout.replace(" ", ""):
                problems.append(f"{name}: not an espresso: {stdout.strip().splitlines()[-1][:300]}")
        else:
            fragment, prefix = (expected[0], "Erreur : ") if lang == "fr" else (expected[1], "Error: ")
            lines = stderr.strip().splitlines()
            if code != 1 or len(lines) != 1 or not lines[0].startswith(prefix) or fragment not in lines[0]:
                problems.append(f"{name} ({lang}): exit {code}, stderr {stderr.strip()[-300:]!r}")
    assert not problems, problems
