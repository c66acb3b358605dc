"""Shard, Zarr and manifest writers: every file is written to a temporary name, then renamed."""
