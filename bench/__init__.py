"""Benchmarks and the proxy-run simulator (outside the service package)."""
