"""Streaming PyTorch loaders over climb manifests (local or s3://)."""
