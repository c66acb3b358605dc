"""wfdb_ecg parses WFDB headers with dict lookups (speed) and gets exactly what wfdb's own tables give."""

from __future__ import annotations

import wfdb
from wfdb.io import _header

from climb.corpora.ecg import real_ecg, write_wfdb
from climb.pipelines.sources.wfdb_ecg import _dict_specs, read_ecg


def _fields(record) -> dict:
    return {k: v for k, v in vars(record).items() if k not in ("p_signal", "d_signal")}


def test_a_header_parses_to_the_same_fields_with_dict_lookups(tmp_path):
    write_wfdb(tmp_path, "r1", real_ecg(), 500)
    plain = wfdb.rdheader(str(tmp_path / "r1"))
    with _dict_specs():
        fast = wfdb.rdheader(str(tmp_path / "r1"))
    assert _fields(fast) == _fields(plain)


def test_wfdbs_own_tables_are_back_after_reading_and_writing_still_works(tmp_path):
    tables = (_header.RECORD_SPECS, _header.SIGNAL_SPECS)
    write_wfdb(tmp_path, "r1", real_ecg(), 500)
    read_ecg(str(tmp_path / "r1.hea"), [str(tmp_path / "r1.dat")], {}, expected_fs=500)
    assert _header.RECORD_SPECS is tables[0] and _header.SIGNAL_SPECS is tables[1]
    write_wfdb(tmp_path, "r2", real_ecg(), 500)
    assert wfdb.rdheader(str(tmp_path / "r2")).n_sig == 12
