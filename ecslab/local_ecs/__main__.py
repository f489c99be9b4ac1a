"""``python -m ecslab.local_ecs``: a local ECS to try the lab without an AWS account.

Starts the moto server with the local ECS, deploys the lab's two stacks into it, creates
the cluster of step 3, builds the classifier image (with the s3_io.py of ``--submission``)
and the web image, publishes both under the stacks' ECR repository URIs, then prints the
variables to export in another terminal, where the lab's commands (``ecs-lab
run-classifier``...) and your own code then run against it. Ctrl-C stops everything and
removes every container.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

from ecslab.facts import CLUSTER


def _setup_settings() -> dict[str, str]:
    """ECS_LAB_BASE_IMAGE / ECS_LAB_BUILD_NETWORK: the environment, else scripts/setup-docker.sh's file."""
    settings: dict[str, str] = {}
    env_file = Path(__file__).resolve().parents[2] / ".cache" / "docker" / "base-image.env"
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep:
                settings[key] = value
    settings.update({k: os.environ[k] for k in ("ECS_LAB_BASE_IMAGE", "ECS_LAB_BUILD_NETWORK") if os.environ.get(k)})
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecslab.local_ecs",
                                     description="ECS local (moto + Docker) pour le lab 8, sans compte AWS.")
    parser.add_argument("--submission", default=".", help="dossier contenant votre s3_io.py (défaut : .)")
    parser.add_argument("--model-dir", default=None,
                        help="modèle local au format Hugging Face (défaut : téléchargé depuis le hub au build)")
    args = parser.parse_args(argv)

    from ecslab.images import build_classifier_image, build_web_image
    from ecslab.local_ecs import LocalEcs, LocalEcsError
    from ecslab.stacks import deploy_lab_stacks

    settings = _setup_settings()
    base = settings.get("ECS_LAB_BASE_IMAGE") or None
    network = "host" if settings.get("ECS_LAB_BUILD_NETWORK") == "host" else None
    try:
        with LocalEcs() as ecs:
            os.environ.update(ecs.environment())
            print("Construction des images (classificateur, application web)...", flush=True)
            docker = ecs.resources.client
            build_classifier_image(docker, Path(args.submission), "ecs-lab-local/image-classifier:latest",
                                   model_dir=args.model_dir, base_image=base, network_mode=network)
            build_web_image(docker, "ecs-lab-local/web-app:latest", base_image=base, network_mode=network)
            print("Déploiement des piles et création du cluster...", flush=True)
            outputs = deploy_lab_stacks(ecs.session())
            ecs.client("ecs").create_cluster(
                clusterName=CLUSTER, capacityProviders=["FARGATE"],
                defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])
            ecs.registry.publish("ecs-lab-local/image-classifier:latest", outputs["ClassifierECRRepository"])
            ecs.registry.publish("ecs-lab-local/web-app:latest", outputs["WebAppECRRepository"])
            print("\nECS local prêt. Dans un autre terminal :\n")
            for key, value in ecs.environment().items():
                print(f"  export {key}={value}")
            print("  ecs-lab run-classifier --image-url <URL d'une image>\n")
            print("Les tâches tournent vraiment dans Docker ; Ctrl+C arrête tout et supprime les conteneurs.")
            threading.Event().wait()
    except KeyboardInterrupt:
        print("\nECS local arrêté, conteneurs supprimés.")
        return 0
    except LocalEcsError as error:
        print(f"Erreur : impossible de démarrer l'ECS local ({error}). Lancez `sudo bash scripts/setup-docker.sh`.",
              file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - a message, never a traceback
        print(f"Erreur : {type(error).__name__} : {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
