"""Benchmarks of the running service: a real ``mixopt serve`` subprocess, measured over HTTP or the client."""
