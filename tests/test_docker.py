"""The Docker image.

Static checks always run: the Dockerfile installs what the package declares and starts the ``mixopt`` script.

The image test builds the Dockerfile with podman and runs it against the PostgreSQL server. On this workplace no
container registry is reachable, so ``python:3.11-slim`` must already be in podman's local store (a Debian
bookworm image made with debootstrap works: ``tests/container_base.sh``); podman builds with
``--isolation chroot`` and runs with ``runc`` and explicit ulimits, the combination that works inside this VM
(crun cannot set rlimits or cgroups here). Where podman or that base image is missing the test is skipped,
saying why; set ``MIXOPT_TEST_DOCKER=1`` to make that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from store import db
from tests.conftest import ADMIN_PG_URL
from tests.server import free_port

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
BASE_IMAGE = "docker.io/library/python:3.11-slim"
IMAGE = "localhost/mixopt:test"
RUN = ["podman", "run", "--rm", "--runtime", "runc", "--network", "host"]
RUN += ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


def test_the_image_starts_the_package_script() -> None:
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M)
    assert cmd is not None
    argv = eval(cmd.group(1))  # a JSON-style list of strings
    assert argv[:2] == ["mixopt", "serve"] and "mixopt" in PYPROJECT["project"]["scripts"]
    port = argv[argv.index("--port") + 1]
    assert re.search(rf"^EXPOSE {port}$", DOCKERFILE, re.M)
    assert "--host" in argv and argv[argv.index("--host") + 1] == "0.0.0.0"


def test_the_image_installs_what_the_package_declares() -> None:
    extras = re.findall(r'pip wheel [^\n]*"\.\[([a-z,]+)\]"', DOCKERFILE)
    assert extras, "the build stage installs the package with its extras"
    for extra in extras[0].split(","):
        assert extra in PYPROJECT["project"]["optional-dependencies"]
    copied = set(re.findall(r"^COPY (\w+) \./\w+$", DOCKERFILE, re.M))
    packages = {p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"packages not copied into the image: {packages - copied}"
    assert any(d.startswith("psycopg[binary]") for d in PYPROJECT["project"]["dependencies"])  # PostgreSQL works


def _podman_ready() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install podman runc)"
    if shutil.which("runc") is None:
        return "runc is not installed (apt-get install runc)"
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE], capture_output=True).returncode != 0:
        return f"{BASE_IMAGE} is not in podman's store and no registry is reachable (tests/container_base.sh)"
    return None


@pytest.fixture
def image() -> str:
    why = _podman_ready()
    if why is not None:
        if os.environ.get("MIXOPT_TEST_DOCKER") == "1":
            pytest.fail(why)
        pytest.skip(why)
    build = subprocess.run(
        ["podman", "build", "--isolation", "chroot", "--network", "host", "-t", IMAGE, str(REPO)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    return IMAGE


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    name = f"mixopt_docker_{uuid.uuid4().hex[:8]}"
    admin = db.make_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(ADMIN_PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.slow
def test_the_image_serves_against_postgresql(image: str, fresh_pg: str) -> None:
    env = ["-e", f"MIXOPT_DATABASE_URL={fresh_pg}"]
    upgrade = subprocess.run(
        [*RUN, *env, image, "mixopt", "db", "upgrade"], capture_output=True, text=True, timeout=300
    )
    assert upgrade.returncode == 0, upgrade.stderr
    token = subprocess.run(
        [*RUN, *env, image, "mixopt", "token", "create"], capture_output=True, text=True, timeout=300
    )
    assert token.returncode == 0, token.stderr
    port = free_port()
    name = f"mixopt-test-{port}"
    server = subprocess.Popen(
        [*RUN, "--name", name, *env, image, "mixopt", "serve", "--host", "0.0.0.0", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the container did not become ready"
            time.sleep(1)
        assert httpx.get(f"{url}/readyz").json()["database"] == "postgresql"
        assert httpx.get(f"{url}/api/v1/projects").status_code == 401  # 0.0.0.0 turns auth on
        headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
        body = {"name": "docker", "domains": [{"name": "a"}, {"name": "b"}], "objective": {"metric": "loss"}}
        assert httpx.post(f"{url}/api/v1/projects", json=body, headers=headers).status_code == 201
        docs = httpx.get(f"{url}/docs").text
        assert "/static-offline-docs/swagger-ui-bundle.js" in docs  # /docs works offline in the image too
    finally:
        subprocess.run(["podman", "stop", "-t", "5", name], capture_output=True, timeout=60)
        server.wait(timeout=60)
