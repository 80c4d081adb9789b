"""What the tests and the benchmarks run against: real servers, pods of the shell image, a hub, kernels.

Imported as ``tests.harness.*`` by tests and by ``bench/`` alike (run from the repository's root).
"""
