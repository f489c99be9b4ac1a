"""Load a Hugging Face style image-classification model directory and run it.

Layout::

    MODEL_DIR/
      onnx/model.onnx            (or model_quantized.onnx, model_fp16.onnx, ...)
      config.json                (id2label, or timm's label_names)
      preprocessor_config.json   (resize / crop / rescale / normalise)
      model_info.json            (optional: {"name": ..., "version": ...})

The ONNX session is created once per :class:`ImageClassifier`; its intra-op
thread count follows the CPUs this process may really use (affinity mask and
cgroup CPU quota), which on Fargate is the task's vCPUs, not the host's cores.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# onnxruntime's Linux telemetry (1DS) uploads usage events and writes a device id
# under $HOME; a batch task must do neither. Must be set before the first session.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort  # noqa: E402
from PIL import Image

from errors import ClassifierError
from model_files import select_onnx_file
from preprocessing import Preprocessor

@dataclass(frozen=True)
class Prediction:
    label: str
    score: float


def available_cpus() -> int:
    """CPUs usable by this process: affinity mask, capped by a cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _cgroup_cpu_quota() -> float | None:
    """CPU quota in CPUs from cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_*``, or None if unlimited."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def _read_json(path: Path) -> dict:
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise _missing(path) from None
    except (OSError, ValueError) as exc:
        raise ClassifierError(f"Fichier du modèle illisible : {path} ({exc})",
                              f"Unreadable model file: {path} ({exc})") from None
    if not isinstance(data, dict):
        raise ClassifierError(f"Fichier du modèle invalide : {path}", f"Invalid model file: {path}")
    return data


def _missing(path: Path) -> ClassifierError:
    return ClassifierError(f"Fichier du modèle introuvable : {path}", f"Model file not found: {path}")


def _labels(config: dict) -> list[str]:
    if isinstance(config.get("id2label"), dict) and config["id2label"]:
        id2label = {int(k): str(v) for k, v in config["id2label"].items()}
        return [id2label.get(i, f"classe {i}") for i in range(max(id2label) + 1)]
    if isinstance(config.get("label_names"), list) and config["label_names"]:
        return [str(v) for v in config["label_names"]]
    raise ClassifierError("config.json du modèle sans « id2label » : impossible de nommer les classes",
                          "The model's config.json has no \"id2label\": the classes cannot be named")


def _preprocessor(model_dir: Path, config: dict) -> Preprocessor:
    path = model_dir / "preprocessor_config.json"
    if path.exists():
        return Preprocessor.from_config(_read_json(path))
    if isinstance(config.get("pretrained_cfg"), dict):  # a timm model without preprocessor_config.json
        return Preprocessor.from_timm(config["pretrained_cfg"])
    raise _missing(path)


class ImageClassifier:
    """An ONNX image classifier loaded once from a Hugging Face style directory."""

    def __init__(self, model_dir: str | os.PathLike, threads: int | None = None) -> None:
        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise ClassifierError(f"Dossier du modèle introuvable : {self.model_dir}",
                                  f"Model folder not found: {self.model_dir}")
        names = [f"onnx/{p.name}" for p in (self.model_dir / "onnx").glob("*.onnx")]
        onnx_file = select_onnx_file(names)
        if onnx_file is None:
            raise ClassifierError(f"Aucun fichier onnx/model*.onnx dans {self.model_dir}",
                                  f"No onnx/model*.onnx file in {self.model_dir}")
        self.onnx_path = self.model_dir / onnx_file
        config = _read_json(self.model_dir / "config.json")
        self.labels = _labels(config)
        self.preprocess = _preprocessor(self.model_dir, config)
        info_path = self.model_dir / "model_info.json"
        info = _read_json(info_path) if info_path.exists() else {}
        self.name = str(info.get("name") or config.get("_name_or_path") or self.model_dir.name)
        self.version = str(info.get("version") or "1.0")
        self.threads = threads or available_cpus()
        self.session = self._session()
        self.input_name = self.session.get_inputs()[0].name

    def _session(self) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ClassifierError(f"Modèle ONNX illisible : {self.onnx_path} ({exc})",
                                  f"Unreadable ONNX model: {self.onnx_path} ({exc})") from None

    def run(self, pixel_values: np.ndarray) -> np.ndarray:
        """Raw ``session.run`` on a preprocessed batch; returns the logits."""
        return self.session.run(None, {self.input_name: pixel_values})[0]

    def classify(self, image: Image.Image, top_k: int = 5) -> list[Prediction]:
        """Top ``top_k`` predictions (softmax scores, best first) for a PIL image."""
        logits = self.run(self.preprocess(image, threads=self.threads))[0].astype(np.float64)
        if logits.shape[-1] != len(self.labels):
            raise ClassifierError(
                f"Le modèle produit {logits.shape[-1]} classes mais config.json en nomme {len(self.labels)}",
                f"The model gives {logits.shape[-1]} classes but config.json names {len(self.labels)}")
        exp = np.exp(logits - logits.max())
        scores = exp / exp.sum()
        top = np.argsort(-scores, kind="stable")[:top_k]
        return [Prediction(self.labels[i], float(scores[i])) for i in top]
