"""Benchmark harness of invsync: ``python -m bench`` or ``make bench``."""
