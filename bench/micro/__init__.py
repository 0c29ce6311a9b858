"""Micro-benchmarks: one mixer call in-process on fixed data (speed, and the model's accuracy on that data)."""
