"""Beam pipelines: sources (discover + read), the conversion graph, writers, verify and reproduce."""
