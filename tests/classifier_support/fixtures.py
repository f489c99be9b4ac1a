"""Pytest fixtures of the classifier tests; import them into a test module with ``from ... import *``."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

from classifier_support.http_server import TestHTTPServer
from classifier_support.paths import BUILD_SCRIPT, CLASSIFIER_DIR, MODEL_DIR, s3_io_dir

CLASSIFIER_MODULES = ("classifier", "model", "model_files", "errors", "result", "preprocessing", "image_input",
                      "s3_io")

__all__ = ["test_model_dir", "clf", "http_server"]


@pytest.fixture(scope="session")
def test_model_dir():
    """The EfficientNet-Lite0 test model, built (or found up to date) by the project script."""
    proc = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--out", str(MODEL_DIR)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode == 3 and os.environ.get("CI") != "true":
        pytest.skip(f"test model cannot be built here: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"build_test_model.py failed:\n{proc.stdout}\n{proc.stderr}"
    return MODEL_DIR


@pytest.fixture(scope="module")
def clf(test_model_dir):
    """The classifier's modules imported in-process (``clf.classifier``, ``clf.model``...).

    Their names are generic (``model``, ``errors``...), so any module of the same
    name is set aside while the tests run and restored afterwards.
    """
    saved = {name: sys.modules.pop(name) for name in CLASSIFIER_MODULES if name in sys.modules}
    paths = [str(CLASSIFIER_DIR), str(s3_io_dir())]
    sys.path[:0] = paths
    old_model_dir = os.environ.get("MODEL_DIR")
    os.environ["MODEL_DIR"] = str(test_model_dir)
    try:
        modules = type("ClassifierModules", (), {})()
        for name in CLASSIFIER_MODULES:
            setattr(modules, name, importlib.import_module(name))
        yield modules
    finally:
        for name in CLASSIFIER_MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
        for p in paths:
            sys.path.remove(p)
        if old_model_dir is None:
            os.environ.pop("MODEL_DIR", None)
        else:
            os.environ["MODEL_DIR"] = old_model_dir


@pytest.fixture(scope="module")
def http_server():
    server = TestHTTPServer()
    try:
        yield server
    finally:
        server.close()
