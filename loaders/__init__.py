"""Streaming PyTorch loaders over climb manifests (local or s3://).

    from climb.loaders import ClimbDataset, MixedDataset, collate

plan.py decides the order (pure numpy), shards.py and io.py fetch bytes (range reads, retries,
verified cache), decode.py and collate.py turn them into tensors, stream.py and mix.py are the
datasets, zarr_patches.py samples 3D patches from the Zarr volumes.
"""

from climb.loaders.collate import collate
from climb.loaders.mix import MixedDataset
from climb.loaders.stream import ClimbDataset

__all__ = ["ClimbDataset", "MixedDataset", "collate"]
