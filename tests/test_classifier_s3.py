"""S3 mode of the classifier (bonus) on moto: in-process and as a program against a moto server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from classifier_support.fixtures import *  # noqa: F401,F403 - fixtures
from classifier_support.paths import CLASSIFIER_DIR, photo, s3_io_dir

BUCKET = "ecs-lab-images-123456789012-eu-west-1"
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}


@pytest.fixture
def s3(monkeypatch):
    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        client.put_object(Bucket=BUCKET, Key="input/cat.png", Body=photo("chelsea.png").read_bytes())
        client.put_object(Bucket=BUCKET, Key="input/notes.txt", Body=b"ceci n'est pas une image")
        yield client


def keys(client, prefix="output/"):
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_s3_round_trip(clf, s3, capsys):
    code = clf.classifier.main([f"s3://{BUCKET}/input/cat.png", f"s3://{BUCKET}/output/result.json"])
    out = capsys.readouterr().out
    assert code == 0
    obj = s3.get_object(Bucket=BUCKET, Key="output/result.json")
    assert obj["ContentType"] == "application/json"
    stored = json.loads(obj["Body"].read())
    printed = json.loads(out.strip().splitlines()[-1])
    assert stored["predictions"] == printed["predictions"]
    assert stored["input"] == {"url": f"s3://{BUCKET}/input/cat.png"}
    assert stored["predictions"][0]["label"] in {"tabby", "tiger cat", "Egyptian cat"}


@pytest.mark.parametrize("args,fragment", [
    ([f"s3://{BUCKET}/input/absent.jpg", f"s3://{BUCKET}/output/result.json"], "n'existe pas"),
    (["s3://no-such-bucket-ecs-lab/x.jpg", f"s3://{BUCKET}/output/result.json"], "bucket"),
    ([f"s3://{BUCKET}/input/notes.txt", f"s3://{BUCKET}/output/result.json"], "n'est pas une image"),
    ([f"s3://{BUCKET}/input/cat.png", f"s3://{BUCKET}"], "URI S3 invalide"),
    (["s3:///input/cat.png", f"s3://{BUCKET}/output/result.json"], "URI S3 invalide"),
    ([f"s3://{BUCKET}/input/cat.png", "https://example.org/out.json"], "s3://"),
])
def test_s3_bad_input_writes_nothing(clf, s3, capsys, args, fragment):
    code = clf.classifier.main(args)
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.count("\n") == 1 and fragment in captured.err, captured.err
    assert "Traceback" not in captured.err
    assert keys(s3) == []


@pytest.fixture(scope="module")
def moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    client.put_object(Bucket=BUCKET, Key="input/coffee.png", Body=photo("coffee.png").read_bytes())
    try:
        yield endpoint, client
    finally:
        server.stop()


def run_s3_program(endpoint, model_dir, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(FAKE_AWS, AWS_ENDPOINT_URL=endpoint, MODEL_DIR=str(model_dir), PYTHONPATH=str(s3_io_dir()))
    return subprocess.run([sys.executable, "classifier.py", *args], cwd=CLASSIFIER_DIR, env=env,
                          capture_output=True, text=True, timeout=120)


def test_s3_mode_as_program(test_model_dir, moto_server):
    endpoint, client = moto_server
    proc = run_s3_program(endpoint, test_model_dir,
                          f"s3://{BUCKET}/input/coffee.png", f"s3://{BUCKET}/output/coffee.json")
    assert proc.returncode == 0, proc.stderr
    stored = json.loads(client.get_object(Bucket=BUCKET, Key="output/coffee.json")["Body"].read())
    assert stored["predictions"][0]["label"] == "espresso"
    assert json.loads(proc.stdout.strip().splitlines()[-1])["predictions"] == stored["predictions"]


def test_missing_s3_object_as_program(test_model_dir, moto_server):
    endpoint, client = moto_server
    proc = run_s3_program(endpoint, test_model_dir,
                          f"s3://{BUCKET}/input/absent.png", f"s3://{BUCKET}/output/absent.json")
    assert proc.returncode == 1
    assert "n'existe pas" in proc.stderr and "Traceback" not in proc.stderr
    stored = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert "output/absent.json" not in stored


@pytest.mark.parametrize("source,fragment", [
    ("raise RuntimeError('boom')\n", "ne se charge pas : RuntimeError: boom"),
    ("import module_that_does_not_exist\n", "ne se charge pas"),
    (None, "absent"),
])
def test_broken_or_missing_student_module(clf, s3, capsys, monkeypatch, tmp_path, source, fragment):
    monkeypatch.delitem(sys.modules, "s3_io", raising=False)
    # No other s3_io on the path: another test may have put a submission's directory there.
    monkeypatch.setattr(sys, "path", [str(tmp_path)] + [p for p in sys.path if p != str(s3_io_dir())
                                                        and not (Path(p or ".") / "s3_io.py").exists()])
    if source is not None:
        (tmp_path / "s3_io.py").write_text(source)
    code = clf.classifier.main([f"s3://{BUCKET}/input/cat.png", f"s3://{BUCKET}/output/result.json"])
    err = capsys.readouterr().err
    assert code == 1 and fragment in err and err.count("\n") == 1, err
    assert keys(s3) == []
