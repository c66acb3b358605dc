"""Benchmarks: each script answers one question and prints one JSON line of ratios and figures."""
