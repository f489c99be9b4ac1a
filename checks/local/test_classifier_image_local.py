"""Checkpoint classifier_image_local (step 9): the classifier image, built with your s3_io.py,
works in Docker.

What is verified, with the image built by the tier (the lab's classifier code, your
``s3_io.py``, the EfficientNet-Lite0 test model): real photos served over HTTP to the
container (scikit-image's coffee, rocket, motorcycle and cat) get the expected top label;
the output has the top-5 lines and, last, the result document (timestamp, input, model,
predictions with label/confidence/score, processing.success) and the container exits 0;
a photo given as a mounted file works the same; a URL that answers 404 and a file that
is not an image end with exit code 1 and a clear message, without a traceback.
"""

from __future__ import annotations

import re

import pytest

from grader.feedback import expect

from grader.tiers.local.containers import run_container
from grader.tiers.local.photos import EXPECTED_LABELS, photo_path

pytestmark = pytest.mark.timeout(120, func_only=True)
TOP_LINE = re.compile(r"^\s*[1-5]\. .+: \d+(\.\d+)?\s?%$")


def _run(world, *args, **kwargs):
    return run_container(world.ecs, world.images.classifier, ["python", "classifier.py", *args], **kwargs)


def _expect_success(run, what: str) -> dict:
    expect(not run.timed_out, f"Le conteneur ne s'est pas terminé ({what}).", f"The container did not finish ({what}).")
    expect(run.exit_code == 0, f"Le conteneur doit se terminer avec le code 0 ({what}).",
           f"The container must exit with code 0 ({what}).", expected=0, seen=f"{run.exit_code} : {run.output[-300:]}")
    document = run.result_document()
    expect(document is not None, f"Aucun document résultat JSON sur la sortie standard ({what}).",
           f"No JSON result document on standard output ({what}).", seen=run.stdout[-300:])
    return document


@pytest.mark.weight(1)
@pytest.mark.parametrize("name", sorted(EXPECTED_LABELS))
def test_photo_over_http_gets_expected_label(world, name):
    run = _run(world, world.photos.photo(name))
    document = _expect_success(run, name)
    top = document["predictions"][0]["label"] if document.get("predictions") else None
    expect(top in EXPECTED_LABELS[name], f"Mauvaise classification de {name}.", f"Wrong classification of {name}.",
           expected=sorted(EXPECTED_LABELS[name]), seen=top)


@pytest.mark.weight(2)
def test_output_and_result_document(world):
    url = world.photos.photo("coffee.png")
    run = _run(world, url)
    document = _expect_success(run, "coffee.png")
    top_lines = [line for line in run.stdout.splitlines() if TOP_LINE.match(line)]
    expect(len(top_lines) == 5, "La sortie doit contenir les 5 meilleures prédictions « N. label: xx.xx% ».",
           "The output must contain the top 5 predictions as 'N. label: xx.xx%'.", seen=run.stdout[-400:])
    missing = [key for key in ("timestamp", "input", "model", "predictions", "processing") if key not in document]
    expect(not missing, "Champs manquants dans le document résultat.", "Fields missing from the result document.",
           expected=["timestamp", "input", "model", "predictions", "processing"], seen=sorted(document))
    expect(document["input"].get("url") == url, "input.url doit être l'URL classifiée.",
           "input.url must be the classified URL.", expected=url, seen=document["input"])
    expect(document["processing"].get("success") is True, "processing.success doit valoir true.",
           "processing.success must be true.", seen=document["processing"])
    predictions = document["predictions"]
    expect(len(predictions) == 5 and all({"label", "confidence", "score"} <= set(p) for p in predictions),
           "predictions : 5 éléments avec label, confidence et score.",
           "predictions: 5 items with label, confidence and score.", seen=predictions[:2])
    expect(all(abs(p["confidence"] - round(p["score"] * 100, 2)) <= 0.01 for p in predictions),
           "confidence doit être le score en pourcentage (2 décimales).",
           "confidence must be the score as a percentage (2 decimals).", seen=predictions[:2])


@pytest.mark.weight(1)
def test_mounted_file(world):
    run = _run(world, "/data/photo.png",
               volumes={str(photo_path("coffee.png")): {"bind": "/data/photo.png", "mode": "ro"}})
    document = _expect_success(run, "fichier monté /data/photo.png")
    top = document["predictions"][0]["label"]
    expect(top == "espresso", "Mauvaise classification du fichier monté.", "Wrong classification of the mounted file.",
           expected="espresso", seen=top)


@pytest.mark.weight(1)
@pytest.mark.parametrize("path, what", [("/missing.png", "HTTP 404"), ("/not-an-image.png", "pas une image")])
def test_bad_input_exits_1_with_message(world, path, what):
    run = _run(world, world.photos.url(path))
    expect(run.exit_code == 1, f"Une entrée invalide ({what}) doit terminer le conteneur avec le code 1.",
           f"A bad input ({what}) must end the container with code 1.", expected=1,
           seen=f"{run.exit_code} : {run.output[-300:]}")
    expect("Traceback" not in run.output, "Un message clair est attendu, pas une trace Python.",
           "A clear message is expected, not a Python traceback.", seen=run.output[-400:])
    expect(run.stderr.strip() != "", "Le message d'erreur doit être écrit (sur la sortie d'erreur).",
           "The error message must be printed (on standard error).", seen=run.output[-300:])
    expect(run.result_document() is None, "Aucun document résultat ne doit être produit pour une entrée invalide.",
           "No result document may be produced for a bad input.", seen=run.stdout[-300:])
