"""jupyter-cloudtty's benchmarks: ``python -m bench`` runs them all and prints one table.

Each benchmark is a script of its own (``python bench/relay.py``, ...) that prints its tables and,
with ``--json FILE``, hands its headline figures to ``python -m bench`` (bench/__main__.py). They
print figures and assert nothing; tests/test_bench.py only checks that the suite runs.
"""
