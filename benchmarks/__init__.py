"""Benchmarks of multidb_routers, run with ``make bench`` (``python -m benchmarks``)."""
