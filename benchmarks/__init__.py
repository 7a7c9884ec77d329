"""Benchmark suite of CleanApp Cases (``python -m benchmarks --help``); not part of the package."""
