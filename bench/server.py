"""Start a real ``mixopt serve`` process on a free port (benchmarks and end-to-end tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60.0
) -> Iterator[str]:
    """Yield the base URL of a ``mixopt serve`` subprocess; stops it afterwards."""
    with server_process(data_dir, *args, env=env, timeout=timeout) as (url, _):
        yield url


@contextmanager
def server_process(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60.0
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Yield the base URL and the process of a ready ``mixopt serve`` (for benchmarks that read its memory)."""
    port = free_port()
    full_env = {**os.environ, "MIXOPT_DATA_DIR": str(data_dir), **(env or {})}
    data_dir.mkdir(parents=True, exist_ok=True)
    # The log goes to a file, not a pipe: nobody reads a pipe while the server runs, and once its 64 KiB
    # buffer fills with access-log lines the server blocks on its next write (a campaign hung on this).
    log_path = data_dir / f"server-{port}.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *args],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mixopt serve exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("mixopt serve did not become ready")
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
