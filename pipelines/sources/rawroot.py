"""Find a dataset's folder when RAW_URL points at the folder above it.

Datasets unpack into a folder of their own (`CheXpert-v1.0-small/`, `ptb-xl-.../`), and passing
the folder that holds it is the commonest first mistake. A source names the file that marks its
root (a label sheet); `dataset_folder` accepts RAW_URL itself or its one subfolder that holds that
file, and otherwise says exactly which folder to pass. The records then carry the same ids as when
the dataset folder is passed directly, so the shards and manifest do not depend on the choice.
"""

from __future__ import annotations

from fsspec import AbstractFileSystem

from climb.pipelines.sources import SourceError


def dataset_folder(fs: AbstractFileSystem, root: str, marker: str, shown: str) -> str:
    """The folder of the dataset whose root holds `marker` (a file name or glob pattern).

    Args:
        fs: the raw filesystem.
        root: RAW_URL's path inside `fs`.
        marker: the file that only the dataset's root folder holds (e.g. "train.csv").
        shown: RAW_URL as the user gave it, for messages.

    Returns:
        `root` if it holds `marker`, else its only immediate subfolder that does.

    Raises:
        SourceError: no folder holds `marker` (one level down at most), or several subfolders do
            (the message lists them: pass one as RAW_URL).
    """
    root, shown = root.rstrip("/"), shown.rstrip("/")
    if fs.glob(f"{root}/{marker}"):
        return root
    below = sorted({hit.rsplit("/", 1)[0] for hit in fs.glob(f"{root}/*/{marker}")})
    if len(below) == 1:
        return below[0]
    names = ", ".join(f"{shown}/{folder.rsplit('/', 1)[-1]}" for folder in below)
    if below:
        raise SourceError(f"{marker} is not in {shown} but in {len(below)} of its subfolders ({names}); "
                          "pass the one to convert as RAW_URL")
    raise SourceError(f"{marker} not found in {shown} or in any folder directly below it; "
                      "pass the dataset's folder (the one holding it) as RAW_URL")
