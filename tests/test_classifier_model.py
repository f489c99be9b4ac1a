"""The test-model builder (legacy torch reader, ONNX graph, HF layout) and the classifier's model loading."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from classifier_support import legacy_checkpoint
from classifier_support.fixtures import *  # noqa: F401,F403 - fixtures
from classifier_support.paths import BUILD_SCRIPT, REPO

sys.path.insert(0, str(REPO / "scripts"))
from modelbuild import efficientnet_onnx, legacy_torch, sources  # noqa: E402


# --- legacy torch reader ----------------------------------------------------------------

def test_legacy_reader_rebuilds_views_offsets_and_strides(tmp_path):
    base = np.arange(24, dtype=np.float32)
    shared = legacy_checkpoint.StorageRef("100", base)
    other = legacy_checkpoint.StorageRef("200", np.array([7.5], dtype=np.float32))
    state = {
        "matrix": legacy_checkpoint.TensorRef(shared, 0, (4, 6), (6, 1)),
        "transposed": legacy_checkpoint.TensorRef(shared, 0, (6, 4), (1, 6)),
        "slice": legacy_checkpoint.TensorRef(shared, 10, (3,), (2,)),
        "scalar": legacy_checkpoint.TensorRef(other, 0, (), ()),
    }
    path = tmp_path / "tiny.pth"
    legacy_checkpoint.write(path, state, [shared, other])
    loaded = legacy_torch.load(str(path))
    np.testing.assert_array_equal(loaded["matrix"], base.reshape(4, 6))
    np.testing.assert_array_equal(loaded["transposed"], base.reshape(4, 6).T)
    np.testing.assert_array_equal(loaded["slice"], [10, 12, 14])
    assert loaded["scalar"].shape == () and float(loaded["scalar"]) == 7.5


def test_legacy_reader_refuses_code_in_the_pickle(tmp_path):
    storage = legacy_checkpoint.StorageRef("1", np.zeros(1))
    path = tmp_path / "evil.pth"
    legacy_checkpoint.write(path, {"w": legacy_checkpoint.TensorRef(storage, 0, (1,), (1,))}, [storage],
                            extra_object=os.system)
    with pytest.raises(legacy_torch.LegacyFormatError, match="posix.system|os.system"):
        legacy_torch.load(str(path))


def test_legacy_reader_rejects_other_formats(tmp_path):
    (tmp_path / "zip.pth").write_bytes(b"PK\x03\x04rest")
    (tmp_path / "junk.pth").write_bytes(b"\x00\x01not a pickle")
    for name in ("zip.pth", "junk.pth"):
        with pytest.raises(legacy_torch.LegacyFormatError):
            legacy_torch.load(str(tmp_path / name))


def test_legacy_reader_on_the_shipped_weights():
    state = legacy_torch.load(str(sources.weights_path()))
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert all(np.isfinite(v).all() for v in state.values() if v.dtype.kind == "f")


# --- ONNX graph ---------------------------------------------------------------------------

def test_block_structure_is_inferred_from_the_weights():
    blocks = efficientnet_onnx.infer_blocks(legacy_torch.load(str(sources.weights_path())))
    assert len(blocks) == 16
    assert [b.index for b in blocks if b.stride == 2] == [1, 3, 5, 11]
    assert [b.kernel_size for b in blocks].count(5) == 9
    assert not blocks[0].has_expand and all(b.has_expand for b in blocks[1:])
    assert sum(b.has_skip for b in blocks) == 9


def test_batch_norm_folding_matches_conv_then_bn():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(4, 3, 1, 1)).astype(np.float32)
    state = {"bn.weight": rng.uniform(0.5, 2, 4), "bn.bias": rng.normal(size=4),
             "bn.running_mean": rng.normal(size=4), "bn.running_var": rng.uniform(0.1, 3, 4)}
    x = rng.normal(size=3)
    conv = weight[:, :, 0, 0] @ x
    expected = (conv - state["bn.running_mean"]) / np.sqrt(state["bn.running_var"] + efficientnet_onnx.BN_EPS) \
        * state["bn.weight"] + state["bn.bias"]
    w, b = efficientnet_onnx.fold_bn(weight, state, "bn")
    np.testing.assert_allclose(w[:, :, 0, 0] @ x + b, expected, rtol=1e-5)


def test_non_lite_checkpoint_is_refused():
    state = legacy_torch.load(str(sources.weights_path()))
    state["_blocks.1._se_reduce.weight"] = np.zeros((4, 96, 1, 1), np.float32)
    with pytest.raises(efficientnet_onnx.ArchitectureError):
        efficientnet_onnx.infer_blocks(state)


# --- the build script ----------------------------------------------------------------------

def run_script(*args):
    return subprocess.run([sys.executable, str(BUILD_SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_built_model_directory_layout(test_model_dir):
    config = json.loads((test_model_dir / "config.json").read_text())
    labels = config["id2label"]
    assert len(labels) == 1000
    assert {labels["967"], labels["657"], labels["665"], labels["281"], labels["282"], labels["285"]} == \
        {"espresso", "missile", "moped", "tabby", "tiger cat", "Egyptian cat"}
    pre = json.loads((test_model_dir / "preprocessor_config.json").read_text())
    assert pre["size"] == {"shortest_edge": 224} and pre["crop_pct"] == 0.875 and pre["resample"] == 3
    model = onnx.load(str(test_model_dir / "onnx" / "model.onnx"))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["pixel_values"]
    assert not any(n.op_type == "BatchNormalization" for n in model.graph.node)


def test_script_is_idempotent_and_rebuilds_a_damaged_model(tmp_path, test_model_dir):
    out = tmp_path / "model"
    first = run_script("--out", str(out), "--no-validate")
    assert first.returncode == 0 and first.stdout.startswith("built"), first.stderr
    again = run_script("--out", str(out), "--no-validate")
    assert again.returncode == 0 and again.stdout.startswith("up to date")
    forced = run_script("--out", str(out), "--no-validate", "--force")
    assert forced.stdout.startswith("built")
    with open(out / "onnx" / "model.onnx", "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 16)
    repaired = run_script("--out", str(out), "--no-validate")
    assert repaired.stdout.startswith("built")
    assert sorted(p.name for p in out.parent.iterdir() if not p.name.startswith(".")) == ["model"]


# --- loading a Hugging Face style directory --------------------------------------------------

def tiny_model_dir(tmp_path, onnx_name, config, preprocessor):
    """A 3-class 'colour' classifier: logits = mean R, G, B of the input."""
    nodes = [helper.make_node("GlobalAveragePool", ["pixel_values"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["logits"], axis=1)]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (tmp_path / "onnx").mkdir()
    onnx.save(model, str(tmp_path / "onnx" / onnx_name))
    (tmp_path / "config.json").write_text(json.dumps(config))
    if preprocessor is not None:
        (tmp_path / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return tmp_path


def test_loads_quantized_only_model_with_timm_labels(clf, tmp_path):
    model_dir = tiny_model_dir(
        tmp_path, "model_quantized.onnx", {"label_names": ["rouge", "vert", "bleu"]},
        {"size": {"height": 8, "width": 8}, "do_normalize": False, "resample": 0})
    c = clf.model.ImageClassifier(model_dir, threads=1)
    assert c.onnx_path.name == "model_quantized.onnx" and c.name == model_dir.name
    assert c.classify(Image.new("RGB", (30, 20), (10, 20, 250)), top_k=1)[0].label == "bleu"


def test_timm_pretrained_cfg_without_preprocessor_config(clf, tmp_path):
    model_dir = tiny_model_dir(
        tmp_path, "model.onnx",
        {"id2label": {"0": "rouge", "1": "vert", "2": "bleu"},
         "pretrained_cfg": {"input_size": [3, 32, 32], "crop_pct": 0.875, "interpolation": "bilinear",
                            "mean": [0, 0, 0], "std": [1, 1, 1]}}, None)
    c = clf.model.ImageClassifier(model_dir, threads=1)
    assert c.preprocess.shortest_edge == 36 and c.preprocess.crop_hw == (32, 32)
    assert c.classify(Image.new("RGB", (50, 40), (240, 20, 10)), top_k=1)[0].label == "rouge"


def test_timm_wrapper_preprocessor_config(clf, tmp_path):
    model_dir = tiny_model_dir(
        tmp_path, "model.onnx", {"id2label": {"0": "rouge", "1": "vert", "2": "bleu"}},
        {"image_processor_type": "TimmWrapperImageProcessor",
         "data_config": {"input_size": [3, 224, 224], "crop_pct": 0.875, "interpolation": "bicubic",
                         "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}})
    c = clf.model.ImageClassifier(model_dir, threads=1)
    pre = c.preprocess
    assert (pre.shortest_edge, pre.crop_hw, pre.resample) == (256, (224, 224), Image.Resampling.BICUBIC)
    assert pre.mean == (0.485, 0.456, 0.406)
    assert c.classify(Image.new("RGB", (300, 200), (20, 240, 10)), top_k=1)[0].label == "vert"


def test_onnx_file_preference(clf):
    select = clf.model.select_onnx_file
    assert select(["onnx/model_quantized.onnx", "onnx/model.onnx", "onnx/model_fp16.onnx"]) == "onnx/model.onnx"
    assert select(["onnx/model_q4f16.onnx", "onnx/model_quantized.onnx"]) == "onnx/model_quantized.onnx"
    assert select(["onnx/model_q4f16.onnx", "config.json"]) == "onnx/model_q4f16.onnx"
    assert select(["model.onnx", "onnx/decoder.onnx"]) is None


def test_missing_files_are_reported_in_french(clf, tmp_path):
    (tmp_path / "onnx").mkdir()
    with pytest.raises(clf.errors.ClassifierError, match="Aucun fichier onnx"):
        clf.model.ImageClassifier(tmp_path)


def test_available_cpus_follows_affinity_and_cgroup_quota(clf, monkeypatch):
    assert 1 <= clf.model.available_cpus() <= len(os.sched_getaffinity(0))
    monkeypatch.setattr(clf.model, "_cgroup_cpu_quota", lambda: 0.5)
    assert clf.model.available_cpus() == 1
    monkeypatch.setattr(clf.model, "_cgroup_cpu_quota", lambda: 64.0)
    assert clf.model.available_cpus() == len(os.sched_getaffinity(0))


# --- preprocessing -------------------------------------------------------------------------------

def test_crop_pct_resizes_short_side_then_crops(clf):
    pre = clf.preprocessing.Preprocessor.from_config(
        {"size": {"shortest_edge": 224}, "crop_pct": 0.875, "resample": 3})
    assert pre._resize_target((640, 480)) == (341, 256)
    assert pre._resize_target((300, 451)) == (256, 384)
    assert pre(Image.new("RGB", (640, 480))).shape == (1, 3, 224, 224)


def test_preprocessing_matches_a_direct_computation(clf):
    cfg = {"size": {"shortest_edge": 6}, "crop_size": {"height": 4, "width": 4}, "do_center_crop": True,
           "resample": 2, "rescale_factor": 1 / 255, "image_mean": [0.5, 0.4, 0.3], "image_std": [0.2, 0.25, 0.5]}
    pre = clf.preprocessing.Preprocessor.from_config(cfg)
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, size=(10, 15, 3), dtype=np.uint8))
    resized = np.asarray(image.resize((9, 6), Image.Resampling.BILINEAR), dtype=np.float32)
    crop = resized[1:5, 2:6] / 255
    expected = ((crop - [0.5, 0.4, 0.3]) / [0.2, 0.25, 0.5]).transpose(2, 0, 1)[None]
    got = pre(image)
    assert got.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_invalid_preprocessor_config_is_reported(clf):
    with pytest.raises(clf.errors.ClassifierError, match="preprocessor_config.json"):
        clf.preprocessing.Preprocessor.from_config({"do_resize": True})
    with pytest.raises(clf.errors.ClassifierError, match="preprocessor_config.json"):
        clf.preprocessing.Preprocessor.from_config({"size": {"shortest_edge": 224}, "resample": 42})
