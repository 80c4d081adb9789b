"""jupyter-cloudtty's benchmarks: ``python -m bench`` runs them all and prints one table.

Each benchmark is a module of its own (``python -m bench.relay``, ...) that prints its tables and,
with ``--json FILE``, hands its headline figures to ``python -m bench`` (bench/__main__.py). Run them
from the repository's root: they import ``bench`` and the tests' harness (``tests.harness``) from
there, as pytest does. They print figures and assert nothing; tests/test_bench.py only checks that
the suite runs.
"""
