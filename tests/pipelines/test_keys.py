"""Workers get the pseudonymization key by reference and refuse a key that is not the driver's."""

from __future__ import annotations

import pytest

from climb.pipelines.convert import ConvertConfig, convert
from climb.pipelines.keys import KeyUnavailableError, env_ref, file_ref, resolve
from climb.transforms.phi import DEMO_KEY, key_id

OTHER = b"another-key-of-enough-length-0123"


def test_an_environment_reference_resolves_to_the_key(monkeypatch):
    monkeypatch.setenv("CLIMB_TEST_KEY", DEMO_KEY.decode())
    assert resolve(env_ref(DEMO_KEY, "CLIMB_TEST_KEY")) == DEMO_KEY


def test_a_worker_without_the_variable_is_told_how_to_give_it(monkeypatch):
    monkeypatch.delenv("CLIMB_TEST_KEY", raising=False)
    with pytest.raises(KeyUnavailableError, match=r"no \$CLIMB_TEST_KEY.*docs/dask.md"):
        resolve(env_ref(DEMO_KEY, "CLIMB_TEST_KEY"))


def test_a_worker_with_another_key_refuses_to_work(monkeypatch):
    monkeypatch.setenv("CLIMB_TEST_KEY", OTHER.decode())
    with pytest.raises(KeyUnavailableError, match=f"id {key_id(OTHER)}.*not the driver's"):
        resolve(env_ref(DEMO_KEY, "CLIMB_TEST_KEY"))


def test_a_key_file_reference_resolves_and_records_only_the_key_id(dicom_corpus, tmp_path):
    key_file = tmp_path / "hmac.key"
    key_file.write_bytes(DEMO_KEY + b"\n")
    ref = file_ref(DEMO_KEY, str(key_file))
    assert resolve(ref) == DEMO_KEY and DEMO_KEY not in repr(ref).encode()
    manifest = convert(ConvertConfig(source="dicom", raw_url=str(dicom_corpus), out_url=str(tmp_path / "out"), workers=1), ref)
    assert manifest["config"]["hmac_key_id"] == key_id(DEMO_KEY)
    assert DEMO_KEY not in (tmp_path / "out" / "dicom" / "manifest.json").read_bytes()
