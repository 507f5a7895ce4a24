"""Benchmarks: speed and memory figures printed by ``make bench``, apart from the test run.

Each ``bench_*.py`` module has a ``main()`` that prints medians over repeated runs and ratios
against a baseline measured in the same run. ``BENCH_QUICK=1`` makes them small smoke runs.
"""
