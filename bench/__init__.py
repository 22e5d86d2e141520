"""Benchmarks: each ``bench_*`` module has a ``main()`` that prints a table of figures.

They are measurements, not pass/fail tests. ``python -m bench [--quick]`` runs them all;
``python -m bench.bench_alerts [--quick]`` runs one. Results for this machine are in
``BENCHMARKS.md``.
"""
