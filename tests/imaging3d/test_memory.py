"""Converting a 512 x 512 x 300 int16 CT series keeps peak RSS under 4x the volume size.

The conversion runs in a fresh interpreter so the measurement is its own: peak RSS is the larger of
the process's and its worker processes' (the engine decodes in forked workers). The process's own
peak is read from /proc/self/status (VmHWM), not getrusage: Linux carries the parent's high-water
mark across fork+exec into ru_maxrss, so under pytest it would report pytest's size. The workers'
getrusage(RUSAGE_CHILDREN) is their own (they fork from the fresh interpreter).
"""

import json
import subprocess
import sys
import textwrap

import pytest

from climb.corpora.imaging3d import write_large_rspect_corpus

MEASURE = textwrap.dedent(
    """
    import json, resource, sys
    from climb.pipelines.convert import ConvertConfig, convert
    from climb.transforms.phi import DEMO_KEY

    manifest = convert(ConvertConfig(source="rspect", raw_url=sys.argv[1], out_url=sys.argv[2]), DEMO_KEY)
    with open("/proc/self/status") as f:
        own_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    peak_kb = max(own_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"counts": manifest["counts"], "peak_bytes": peak_kb * 1024}))
    """
)


@pytest.mark.slow
def test_large_ct_series_converts_within_4x_its_volume_size(tmp_path):
    expected = write_large_rspect_corpus(tmp_path / "raw", n_slices=300)
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path / "raw"), str(tmp_path / "out")],
        capture_output=True, text=True, check=True, timeout=300,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["counts"] == expected["counts"]
    assert report["peak_bytes"] < 4 * expected["volume_bytes"], (report["peak_bytes"] / expected["volume_bytes"])
