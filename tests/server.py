"""Tests start servers with the same helper the benchmarks use."""

from bench.server import free_port, running_server

__all__ = ["free_port", "running_server"]
