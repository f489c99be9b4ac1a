"""Checkpoint classifier_image_local (step 9): the classifier image YOU built works in Docker.

What is verified, on the image ``ecs-lab build classifier`` tagged ``image-classifier:latest``
in your Docker engine (never an image the grader builds; without it, every check of this
checkpoint fails and says to run ``ecs-lab build classifier``): real photos served over
HTTP to the container (scikit-image's coffee, rocket, motorcycle and cat) get a top label
of the photo's accepted set (near-synonyms any ImageNet model gives, read from the result
document); the output has the top-5 lines and, last, the result document (timestamp,
input, model, predictions with label/confidence/score, processing.success) and the
container exits 0; a photo given as a mounted file works the same; a URL that answers 404
and a file that is not an image end with exit code 1 and a clear message, without a
traceback. The image runs as the tier's containers do (grader/tiers/local/containers.py:
its network, time and resource limits, removed at the end). In a class run (`ecs-lab grade`),
the engine is the grading machine's: the checkpoint is not graded there, with the reason.
"""

from __future__ import annotations

import os
import re

import pytest

from grader.runner import BATCH_ENV
from grader.feedback import Text, expect, fail

from grader.tiers.local.containers import run_container
from grader.tiers.local.images import STUDENT_CLASSIFIER_TAG, student_classifier_image
from grader.tiers.local.photos import EXPECTED_LABELS, label_matches, photo_path

pytestmark = pytest.mark.timeout(120, func_only=True)
TOP_LINE = re.compile(r"^\s*[1-5]\. .+: \d+(\.\d+)?\s?%$")


@pytest.fixture(scope="module")
def student_image(world, request) -> str:
    """The id of the student's image-classifier:latest (an id: a rebuild during the run changes nothing)."""
    if os.environ.get(BATCH_ENV):  # ecs-lab grade: the grading machine's image, not the student's
        pytest.skip(Text(
            f"Non noté dans une correction de classe (ecs-lab grade) : l'image {STUDENT_CLASSIFIER_TAG} de la "
            "machine qui corrige n'est pas celle de l'étudiant ; ce point se vérifie sur sa machine.",
            f"Not graded in a class run (ecs-lab grade): the grading machine's {STUDENT_CLASSIFIER_TAG} is not "
            "the student's image; this point is verified on the student's machine.")(request.config.getoption("lang")))
    image_id = student_classifier_image(world.docker)
    if image_id is None:
        fail(f"Aucune image {STUDENT_CLASSIFIER_TAG} dans votre moteur Docker : construisez-la avec "
             f"`ecs-lab build classifier` (étape 9), testez-la avec `docker run`, puis relancez la correction.",
             f"No {STUDENT_CLASSIFIER_TAG} image in your Docker engine: build it with `ecs-lab build classifier` "
             f"(step 9), test it with `docker run`, then run the grader again.",
             key="classifier_image_local.image_not_built")
    return image_id


def _run(world, image, *args, **kwargs):
    return run_container(world.ecs, image, ["python", "classifier.py", *args], **kwargs)


def _expect_success(run, what: str) -> dict:
    expect(not run.timed_out, f"Le conteneur ne s'est pas terminé ({what}).", f"The container did not finish ({what}).")
    expect(run.exit_code == 0, f"Le conteneur doit se terminer avec le code 0 ({what}).",
           f"The container must exit with code 0 ({what}).", expected=0, seen=f"{run.exit_code} : {run.output[-300:]}")
    document = run.result_document()
    expect(document is not None, f"Aucun document résultat JSON sur la sortie standard ({what}).",
           f"No JSON result document on standard output ({what}).", seen=run.stdout[-300:])
    return document


def _top_label(document: dict) -> object:
    predictions = document.get("predictions")
    if isinstance(predictions, list) and predictions and isinstance(predictions[0], dict):
        return predictions[0].get("label")
    return None


@pytest.mark.weight(1)
@pytest.mark.parametrize("name", sorted(EXPECTED_LABELS))
def test_photo_over_http_gets_expected_label(world, student_image, name):
    run = _run(world, student_image, world.photos.photo(name))
    document = _expect_success(run, name)
    top = _top_label(document)
    expect(label_matches(top, EXPECTED_LABELS[name]), f"Mauvaise classification de {name}.",
           f"Wrong classification of {name}.", expected=sorted(EXPECTED_LABELS[name]), seen=top)


@pytest.mark.weight(2)
def test_output_and_result_document(world, student_image):
    url = world.photos.photo("coffee.png")
    run = _run(world, student_image, url)
    document = _expect_success(run, "coffee.png")
    top_lines = [line for line in run.stdout.splitlines() if TOP_LINE.match(line)]
    expect(len(top_lines) == 5, "La sortie doit contenir les 5 meilleures prédictions « N. label: xx.xx% ».",
           "The output must contain the top 5 predictions as 'N. label: xx.xx%'.", seen=run.stdout[-400:])
    missing = [key for key in ("timestamp", "input", "model", "predictions", "processing") if key not in document]
    expect(not missing, "Champs manquants dans le document résultat.", "Fields missing from the result document.",
           expected=["timestamp", "input", "model", "predictions", "processing"], seen=sorted(document))
    source, processing = document["input"], document["processing"]
    expect(isinstance(source, dict) and source.get("url") == url, "input.url doit être l'URL classifiée.",
           "input.url must be the classified URL.", expected=url, seen=source)
    expect(isinstance(processing, dict) and processing.get("success") is True, "processing.success doit valoir true.",
           "processing.success must be true.", seen=processing)
    predictions = document["predictions"]
    expect(isinstance(predictions, list) and len(predictions) == 5
           and all(isinstance(p, dict) and {"label", "confidence", "score"} <= set(p) for p in predictions),
           "predictions : 5 éléments avec label, confidence et score.",
           "predictions: 5 items with label, confidence and score.", seen=predictions)
    numbers = all(isinstance(p[k], (int, float)) and not isinstance(p[k], bool)
                  for p in predictions for k in ("confidence", "score"))
    expect(numbers and all(abs(p["confidence"] - round(p["score"] * 100, 2)) <= 0.01 for p in predictions),
           "confidence doit être le score en pourcentage (2 décimales).",
           "confidence must be the score as a percentage (2 decimals).", seen=predictions[:2])


@pytest.mark.weight(1)
def test_mounted_file(world, student_image):
    run = _run(world, student_image, "/data/photo.png",
               volumes={str(photo_path("coffee.png")): {"bind": "/data/photo.png", "mode": "ro"}})
    document = _expect_success(run, "/data/photo.png")
    top = _top_label(document)
    expect(label_matches(top, EXPECTED_LABELS["coffee.png"]), "Mauvaise classification du fichier monté.",
           "Wrong classification of the mounted file.", expected=sorted(EXPECTED_LABELS["coffee.png"]), seen=top)


@pytest.mark.weight(1)
@pytest.mark.parametrize("path, what, what_en", [("/missing.png", "HTTP 404", "HTTP 404"),
                                                 ("/not-an-image.png", "pas une image", "not an image")])
def test_bad_input_exits_1_with_message(world, student_image, path, what, what_en):
    run = _run(world, student_image, world.photos.url(path))
    expect(run.exit_code == 1, f"Une entrée invalide ({what}) doit terminer le conteneur avec le code 1.",
           f"A bad input ({what_en}) must end the container with code 1.", expected=1,
           seen=f"{run.exit_code} : {run.output[-300:]}")
    expect("Traceback" not in run.output, "Un message clair est attendu, pas une trace Python.",
           "A clear message is expected, not a Python traceback.", seen=run.output[-400:])
    expect(run.stderr.strip() != "", "Le message d'erreur doit être écrit (sur la sortie d'erreur).",
           "The error message must be printed (on standard error).", seen=run.output[-300:])
    expect(run.result_document() is None, "Aucun document résultat ne doit être produit pour une entrée invalide.",
           "No result document may be produced for a bad input.", seen=run.stdout[-300:])
