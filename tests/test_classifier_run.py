"""The classifier on the real test model: photos, URLs, bad input (in-process and as a program)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from classifier_support.fixtures import *  # noqa: F401,F403 - fixtures
from classifier_support.images import png, png_bomb
from classifier_support.paths import CLASSIFIER_DIR, EXPECTED_LABELS, photo, s3_io_dir

RESULT_KEYS = {"timestamp", "input", "model", "predictions", "processing"}


def run_program(args, model_dir, timeout=120, **env):
    environment = {k: v for k, v in os.environ.items() if k not in ("IMAGE_URL",)}
    environment.update(MODEL_DIR=str(model_dir), PYTHONPATH=str(s3_io_dir()), **env)
    return subprocess.run([sys.executable, "classifier.py", *args], cwd=CLASSIFIER_DIR, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def last_json_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def assert_result_document(doc: dict, source: str) -> None:
    assert set(doc) == RESULT_KEYS
    assert doc["input"] == {"url": source}
    assert doc["model"]["name"] and doc["model"]["version"]
    assert doc["processing"]["success"] is True and doc["processing"]["duration_ms"] > 0
    preds = doc["predictions"]
    assert len(preds) == 5
    for p in preds:
        assert set(p) == {"label", "confidence", "score"}
        assert p["confidence"] == round(p["confidence"], 2)
        assert abs(p["confidence"] - p["score"] * 100) < 0.01
    assert [p["score"] for p in preds] == sorted((p["score"] for p in preds), reverse=True)


@pytest.mark.parametrize("name", sorted(EXPECTED_LABELS))
def test_photo_in_process(clf, capsys, name):
    assert clf.classifier.main([str(photo(name))]) == 0
    out = capsys.readouterr().out
    doc = last_json_line(out)
    assert_result_document(doc, str(photo(name)))
    assert doc["predictions"][0]["label"] in EXPECTED_LABELS[name]
    top = doc["predictions"][0]
    assert f"1. {top['label']}: {top['confidence']:.2f}%" in out


def test_model_is_loaded_once(clf, capsys):
    first = clf.classifier.get_classifier()
    clf.classifier.main([str(photo("coffee.png"))])
    clf.classifier.main([str(photo("rocket.jpg"))])
    assert clf.classifier.get_classifier() is first
    assert first.session.get_session_options().intra_op_num_threads == clf.model.available_cpus()


@pytest.mark.parametrize("name", sorted(EXPECTED_LABELS))
def test_photo_as_program_over_http(test_model_dir, http_server, name):
    url = http_server.url(f"/photo/{name}")
    proc = run_program([url], test_model_dir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    doc = json.loads(lines[-1])
    assert_result_document(doc, url)
    assert doc["predictions"][0]["label"] in EXPECTED_LABELS[name]
    assert lines[-6:-1] == [f"{i}. {p['label']}: {p['confidence']:.2f}%"
                            for i, p in enumerate(doc["predictions"], start=1)]


def test_image_url_from_environment(test_model_dir, http_server):
    url = http_server.url("/photo/coffee.png")
    proc = run_program([], test_model_dir, IMAGE_URL=url)
    assert proc.returncode == 0, proc.stderr
    assert last_json_line(proc.stdout)["predictions"][0]["label"] == "espresso"


def test_self_check(test_model_dir):
    proc = run_program(["--self-check"], test_model_dir)
    assert proc.returncode == 0, proc.stderr
    assert "Modèle OK" in proc.stdout and "1000 classes" in proc.stdout


def _bad(clf, capsys, args, expected_fragment, **env):
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        code = clf.classifier.main(args)
    captured = capsys.readouterr()
    assert code == 1
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("Erreur : "), captured.err
    assert expected_fragment in errors[0]
    assert "Traceback" not in captured.err + captured.out
    assert '"predictions"' not in captured.out
    return errors[0]


def test_http_404(clf, capsys, http_server):
    _bad(clf, capsys, [http_server.url("/missing.jpg")], "HTTP 404")


def test_unreachable_server(clf, capsys):
    _bad(clf, capsys, ["http://127.0.0.1:9/image.jpg"], "injoignable")


def test_not_an_image(clf, capsys, http_server):
    _bad(clf, capsys, [http_server.url("/text")], "n'est pas une image")


def test_truncated_image(clf, capsys, http_server):
    data = photo("rocket.jpg").read_bytes()
    _bad(clf, capsys, [http_server.add("truncated.jpg", data[: len(data) // 3], "image/jpeg")], "illisible")


def test_download_over_size_cap(clf, capsys, http_server):
    _bad(clf, capsys, [http_server.url("/big?size=3000000")], "trop volumineuse",
         MAX_DOWNLOAD_BYTES="1000000")


def test_declared_length_over_size_cap(clf, capsys, http_server):
    url = http_server.add("large.png", png(800, 800) + b"\0" * 200_000)
    _bad(clf, capsys, [url], "trop volumineuse", MAX_DOWNLOAD_BYTES="100000")


def test_stalled_server_times_out(clf, capsys, http_server):
    _bad(clf, capsys, [http_server.url("/stall")], "délai", DOWNLOAD_TIMEOUT="1")


def test_decompression_bomb(clf, capsys, http_server):
    _bad(clf, capsys, [http_server.add("bomb.png", png_bomb())], "trop grande")


def test_pixel_limit_is_configurable(clf, capsys, http_server):
    _bad(clf, capsys, [http_server.add("wide.png", png(2000, 1000))], "trop grande", MAX_IMAGE_PIXELS="1000000")


def test_missing_local_file(clf, capsys, tmp_path):
    _bad(clf, capsys, [str(tmp_path / "absent.jpg")], "introuvable")


def test_unsupported_scheme(clf, capsys):
    _bad(clf, capsys, ["ftp://example.org/image.jpg"], "non prise en charge")


def test_no_argument(clf, capsys, monkeypatch):
    monkeypatch.delenv("IMAGE_URL", raising=False)
    _bad(clf, capsys, [], "Arguments invalides")


def test_missing_model_dir(test_model_dir, tmp_path):
    proc = run_program([str(photo("coffee.png"))], tmp_path / "no-model")
    assert proc.returncode == 1
    assert "Dossier du modèle introuvable" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("path,fragment", [("/missing.jpg", "HTTP 404"), ("/text", "n'est pas une image")])
def test_bad_input_as_program(test_model_dir, http_server, path, fragment):
    proc = run_program([http_server.url(path)], test_model_dir)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and fragment in proc.stderr
    assert "Traceback" not in proc.stderr


def test_model_loaded_during_the_download_reports_its_own_errors(test_model_dir, http_server, tmp_path):
    """With a URL the model loads in a background thread: its failure is still the one line,
    and an image that cannot be downloaded is reported first, without waiting for the model."""
    proc = run_program([http_server.url("/photo/coffee.png")], tmp_path / "no-model")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"Erreur : Dossier du modèle introuvable : {tmp_path / 'no-model'}"]
    proc = run_program([http_server.url("/missing.jpg")], tmp_path / "no-model", ECS_LAB_LANG="en")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("Error: Download failed: the server answered HTTP 404"), proc.stderr
