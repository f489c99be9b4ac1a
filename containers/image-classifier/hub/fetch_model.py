"""Build-time download of a Hugging Face image-classification model (Dockerfile stage ``model-hub``).

    python fetch_model.py <model id> <revision> <destination>

Downloads only what the classifier reads: ``config.json``,
``preprocessor_config.json`` (when the repository has one) and the single ONNX
file that ``model_files.select_onnx_file`` picks; records the model id and the
commit in ``model_info.json`` so that results name the exact model.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from huggingface_hub import HfApi, hf_hub_download

from model_files import select_onnx_file


def fetch(model_id: str, revision: str, dest: Path) -> None:
    api = HfApi()
    info = api.model_info(model_id, revision=revision)
    files = api.list_repo_files(model_id, revision=info.sha)
    onnx_file = select_onnx_file(files)
    if onnx_file is None:
        raise SystemExit(f"{model_id}@{revision}: no onnx/model*.onnx file in {files}")
    wanted = [onnx_file, "config.json"] + [f for f in ("preprocessor_config.json",) if f in files]
    for name in wanted:
        hf_hub_download(model_id, name, revision=info.sha, local_dir=dest)
    shutil.rmtree(dest / ".cache", ignore_errors=True)  # huggingface_hub's download metadata
    (dest / "model_info.json").write_text(
        json.dumps({"name": model_id, "version": info.sha}, indent=2) + "\n", encoding="utf-8")
    print(f"{model_id}@{info.sha}: {', '.join(wanted)}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    try:
        fetch(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
    except Exception as exc:  # noqa: BLE001 - one readable line in the build log
        raise SystemExit(f"cannot download {sys.argv[1]}@{sys.argv[2]} from the Hugging Face hub: "
                         f"{type(exc).__name__}: {exc}") from None
