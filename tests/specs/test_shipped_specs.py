"""Every shipped spec converts its real-layout corpus: labels as the sheet says, splits grouped by the
right key, official splits honoured, and every file accounted for (written, quarantined or excluded)."""

from __future__ import annotations

from collections import Counter

import pytest

from climb.corpora.folders import WRITERS
from climb.pipelines.sources import _MODULES, get_source, spec_names

SPECS = spec_names()


def test_every_shipped_spec_has_a_corpus_writer_and_no_name_clash():
    assert sorted(WRITERS) == SPECS
    assert not set(SPECS) & set(_MODULES)


@pytest.mark.parametrize("name", SPECS)
def test_counts_add_up_to_every_file_and_row(name, converted):
    corpus, manifest, metas, quarantine = converted(name)
    counts = manifest["counts"]
    assert counts["written"] == len(corpus["expected"]), [sid for sid, m in metas.items() if m is None]
    assert counts["quarantined"] == len(corpus["quarantined"]), quarantine
    assert counts["excluded"] == len(corpus["excluded"]), quarantine
    assert counts["discovered"] == counts["written"] + counts["quarantined"] + counts["excluded"]


@pytest.mark.parametrize("name", SPECS)
def test_every_label_is_the_one_the_sheet_or_folder_gives(name, converted):
    corpus, _, metas, _ = converted(name)
    for sample_id, want in corpus["expected"].items():
        assert metas[sample_id] is not None, sample_id
        assert metas[sample_id]["labels"] == want["labels"], sample_id


@pytest.mark.parametrize("name", SPECS)
def test_official_splits_win_and_no_group_spans_two_splits(name, converted):
    corpus, manifest, metas, _ = converted(name)
    splits_of: dict[str, set[str]] = {}
    for sample_id, want in corpus["expected"].items():
        split = metas[sample_id]["split"]
        if want["split"]:
            assert split == want["split"], sample_id
        else:
            assert split in dict(manifest["config"]["split_fractions"]), sample_id
        splits_of.setdefault(want["group"], set()).add(split)
    assert all(len(s) == 1 for s in splits_of.values()), splits_of


@pytest.mark.parametrize("name", SPECS)
def test_quarantine_and_exclusion_reasons_name_the_problem(name, converted):
    corpus, manifest, _, quarantine = converted(name)
    messages = [row["message"] for row in quarantine]
    reasons = Counter(manifest["exclusions"])
    for fragment in corpus["quarantined"]:
        assert sum(fragment in m for m in messages) >= 1, (fragment, messages)
    for fragment in corpus["excluded"]:
        assert sum(n for reason, n in reasons.items() if fragment in reason) >= 1, (fragment, reasons)


@pytest.mark.parametrize("name", SPECS)
def test_outputs_carry_no_raw_ids(name, converted):
    corpus, _, metas, _ = converted(name)
    for sample_id, meta in metas.items():
        text = str(meta)
        assert sample_id.rsplit("/", 1)[-1] not in text
        assert corpus["expected"][sample_id]["group"] not in (meta["subject_id"],)


def test_the_spec_rides_in_the_manifest_so_workers_and_reproduce_need_no_yaml(converted):
    _, manifest, _, _ = converted("isic2019")
    spec = manifest["config"]["options"]["spec"]
    assert spec["name"] == "isic2019"
    assert get_source("isic2019", {"spec": spec}).tasks == ("skin_lesion",)
