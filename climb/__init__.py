"""climb: raw clinical datasets -> one versioned schema -> WebDataset/Zarr shards -> streaming loaders.

The subpackages (climb.schemas, climb.transforms, climb.pipelines, climb.loaders, climb.trainer)
live in top-level folders of the source tree and are mapped into this namespace by setup.cfg.
"""

from climb.version import CODE_VERSION as __version__

__all__ = ["__version__"]
