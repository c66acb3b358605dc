"""Put a raw PTB-XL-layout corpus into S3 for the compose stack's distributed conversion.

The corpus is written by climb.corpora (WFDB records built from the real 12-lead ECG in pydicom's
test data, plus the label sheets), so nothing is downloaded. Endpoint and credentials come from the
environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).

    python docker/seed_raw.py s3://climb-raw/ptbxl
"""

from __future__ import annotations

import sys
import tempfile

from climb.corpora.ecg import write_ptbxl_corpus
from climb.storage import filesystem, storage_options


def seed(url: str) -> int:
    """Write the corpus under `url` (its bucket is created if missing); returns the file count."""
    fs, path = filesystem(url, storage_options(url))
    bucket = path.split("/", 1)[0]
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    with tempfile.TemporaryDirectory(prefix="climb-seed-") as tmp:
        write_ptbxl_corpus(tmp)
        fs.put(f"{tmp}/", path, recursive=True)
    return len(fs.find(path))


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].startswith("s3://"):
        sys.exit("usage: python docker/seed_raw.py s3://BUCKET/PREFIX")
    print(f"seeded {sys.argv[1]} with {seed(sys.argv[1])} files")
