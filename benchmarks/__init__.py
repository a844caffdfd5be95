"""pgbulk's benchmarks: pytest-benchmark suites, the side-by-side comparison, the scaling run.

``pytest benchmarks --benchmark-only`` (``make bench``) runs the quick suites;
``python -m benchmarks.compare`` and ``python -m benchmarks.scaling`` the long runs.
See docs/benchmarks.md.
"""
