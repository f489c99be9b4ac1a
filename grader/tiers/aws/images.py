"""ECR images in the account: pushed with the tag latest, runnable by Fargate (linux/amd64)."""

from __future__ import annotations

from grader.tiers.aws import lookup
from grader.tiers.aws.world import AwsWorld
from grader.feedback import expect

INDEX_TYPES = {"application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json"}


def expect_pushed(aws: AwsWorld, repository: str, command: str) -> dict:
    """Fail unless `repository`:latest exists; note its digest and push time; returns its details."""
    expect(lookup.repository_exists(aws, repository),
           f"Le repository ECR {repository} n'existe pas (il est créé par la pile {lookup.INFRASTRUCTURE_STACK}).",
           f"ECR repository {repository} does not exist (the {lookup.INFRASTRUCTURE_STACK} stack creates it).",
           expected=repository, seen=lookup.NOTHING)
    details = lookup.image(aws, repository)
    expect(details is not None,
           f"Aucune image taguée « latest » dans {repository} : poussez-la ({command}).",
           f"No image tagged \"latest\" in {repository}: push it ({command}).",
           expected=f"{repository}:latest", seen=lookup.NOTHING)
    aws.note(repository=repository, digest=details.get("imageDigest"),
             pushed_at=details.get("imagePushedAt"), tags=details.get("imageTags"),
             size_bytes=details.get("imageSizeInBytes"))
    manifest = lookup.image_manifest(aws, repository) or {}
    if manifest.get("mediaType") in INDEX_TYPES:  # one image per platform: Fargate runs linux/amd64
        platforms = sorted({f"{m.get('platform', {}).get('os')}/{m.get('platform', {}).get('architecture')}"
                            for m in manifest.get("manifests", [])} - {"unknown/unknown"})
        expect("linux/amd64" in platforms,
               f"L'image {repository}:latest n'existe pas pour linux/amd64, la plateforme de Fargate : "
               "reconstruisez-la avec --platform linux/amd64.",
               f"Image {repository}:latest has no linux/amd64 variant, the platform Fargate runs: "
               "rebuild it with --platform linux/amd64.", expected=["linux/amd64"], seen=platforms)
    return details
