"""Benchmarks. `python -m benchmarks.run` is the side-by-side comparison with the peers (tables and a plot
in benchmarks/results/); the other scripts each answer one question and print one JSON line."""
