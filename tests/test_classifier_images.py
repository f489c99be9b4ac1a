"""Build context and build helpers of the classifier image (no Docker engine needed)."""
from __future__ import annotations

import importlib
import re
import sys

import pytest

from classifier_support.paths import CLASSIFIER_DIR, REPO


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
    assert {"Dockerfile", ".dockerignore", "requirements.txt", "classifier.py", "model.py", "hub"} <= names
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
