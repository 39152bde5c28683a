#!/bin/sh
# Builds the aonode:local image offline: a static aonode (CGO_ENABLED=0) in a FROM scratch
# image, no registry. Usage: scripts/docker-build.sh [TAG]   (default aonode:local)
set -eu
tag=${1:-aonode:local}
root=$(cd "$(dirname "$0")/.." && pwd)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cd "$root"
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$ctx/aonode" ./cmd/aonode
mkdir -p "$ctx/rootfs/etc/aonode" "$ctx/rootfs/var/lib/aonode" "$ctx/rootfs/tmp"
cp configs/container/config.yaml "$ctx/rootfs/etc/aonode/config.yaml"
chmod 0755 "$ctx/rootfs/etc/aonode" "$ctx/rootfs/var/lib/aonode"
chmod 0644 "$ctx/rootfs/etc/aonode/config.yaml"
chmod 1777 "$ctx/rootfs/tmp"
cp Dockerfile "$ctx/Dockerfile"
# BuildKit is not needed for this Dockerfile; the classic builder keeps it working where the
# buildx plugin is absent. --pull=false: nothing can be pulled here.
DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build --pull=false -t "$tag" "$ctx" >&2
docker image inspect --format '{{.Id}} {{.Size}}' "$tag"
