#!/usr/bin/env bash
# Make the base image the Dockerfile starts FROM (python:3.11-slim) without a registry: Debian bookworm via
# debootstrap from the mirror this machine's apt is configured with, Python 3.11 from Debian, the host's CA bundle for pip.
# Then tests/test_docker.py can build and run the image with podman. About 5 minutes; run as root.
set -euo pipefail
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends podman runc debootstrap
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null \
  || awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
root=$(mktemp -d)
debootstrap --variant=minbase \
  --include=python3,python3-pip,python3-venv,python-is-python3,libgomp1,ca-certificates \
  bookworm "$root" "$mirror"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/archives/"*.deb
tar -C "$root" -c . | podman import \
  --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' - docker.io/library/python:3.11-slim
rm -rf "$root"
