"""`climb preview` writes a self-contained, deterministic HTML gallery of a converted dataset."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from climb.cli import main
from climb.report.cards import ECG_DPI
from climb.report.ecg_plot import render_ecg
from climb.report.inspect import summarize
from climb.report.preview import write_gallery
from tests.helpers import read_samples

ALL_SOURCES = ("vindr-cxr", "ptbxl", "sleep-edf", "kits", "echonet", "molecules", "mimic-iv")


def page(folder: Path) -> str:
    return (folder / "index.html").read_text(encoding="utf-8")


def cards(folder: Path) -> list[str]:
    return re.findall(r'<article class="card[^"]*">(.*?)</article>', page(folder), flags=re.S)


def card_key(card: str) -> str:
    return re.search(r'<p class="key"[^>]*>([^<]+)</p>', card).group(1)


def shard_metas(dataset: Path) -> dict[str, dict]:
    """Every sample's json member, by key."""
    return {key: sample["meta"] for key, sample in read_samples(dataset).items()}


def first_keys_per_split(dataset: Path, n: int) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for key, sample in read_samples(dataset).items():
        keys.setdefault(sample["split"], []).append(key)
    return {split: names[:n] for split, names in keys.items()}


def decoded(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, f"{path.name} does not decode"
    return image


@pytest.mark.parametrize("source", ALL_SOURCES)
def test_the_page_links_only_files_inside_its_folder_and_every_png_decodes(gallery, source):
    folder = gallery(source)
    targets = {t for t in re.findall(r'(?:src|href)="([^"]+)"', page(folder)) if not t.startswith("#")}
    assert targets, "the page shows no picture"
    for target in targets:
        assert not re.match(r"^[a-z]+:|^/", target), f"{target} is not a relative link"
        assert (folder / html.unescape(target)).is_file(), target
    pngs = sorted(folder.glob("png/*.png"))
    assert {f"png/{p.name}" for p in pngs} == targets
    for png in pngs:
        image = decoded(png)
        assert image.size > 0 and image.min() != image.max(), f"{png.name} is blank"


@pytest.mark.parametrize("source", ALL_SOURCES)
def test_the_page_needs_no_network_no_script_and_no_external_style(gallery, source):
    text = page(gallery(source))
    assert "<script" not in text and "<link" not in text
    assert not re.search(r"https?://", text)
    assert "@import" not in text and "url(" not in text


@pytest.mark.parametrize("source", ("vindr-cxr", "kits", "echonet", "molecules", "sleep-edf"))
def test_every_card_names_its_samples_labels_by_class(gallery, dataset, source):
    metas = shard_metas(dataset(source))
    tasks = json.loads((dataset(source) / "manifest.json").read_text())["tasks"]
    shown = cards(gallery(source))
    assert shown
    for card in shown:
        meta = metas[card_key(card)]
        for name, value in meta["labels"].items():
            assert html.escape(name) in card
            task = tasks[name]
            if value is None:
                assert "masked" in card
            elif task["type"] == "multilabel":
                for cls, v in zip(task["classes"], value):
                    if v == 1:
                        assert f'<span class="chip">{html.escape(cls)}</span>' in card
            elif task["type"] == "regression":
                assert f'<span class="chip">{value:.4g}' in card
            else:
                assert f'<span class="chip">{html.escape(task["classes"][value])}</span>' in card


@pytest.mark.parametrize("source", ("vindr-cxr", "ptbxl", "echonet"))
def test_samples_are_the_first_n_of_each_split_in_shard_order(dataset, tmp_path, source):
    write_gallery(str(dataset(source)), tmp_path, per_split=2)
    shown = [card_key(c) for c in cards(tmp_path)]
    expected = first_keys_per_split(dataset(source), 2)
    order = [s for s in ("train", "val", "test") if s in expected]
    assert shown == [key for split in order for key in expected[split]]


def test_image_cards_show_a_thumbnail_and_the_stored_size(gallery, dataset):
    folder = gallery("vindr-cxr")
    first = cards(folder)[0]
    assert "224×224 px" in first
    thumb = decoded(folder / re.search(r'src="(png/train-00-image\.png)"', first).group(1))
    assert thumb.shape[:2] == (224, 224)


def test_twelve_lead_ecgs_are_the_paper_printout_of_the_stored_signal(gallery, dataset):
    folder = gallery("ptbxl")
    shown = cards(folder)
    for card in shown:
        assert "12-lead ECG · 12 channels · 500 Hz · 10.0 s · mV" in card
        assert re.search(r'src="png/[a-z]+-\d\d-ecg\.png"', card)
    key = card_key(shown[0])
    sample = read_samples(dataset("ptbxl"))[key]
    expected = render_ecg(sample["signal"], 500.0, sample["meta"]["signal"]["channels"], units="mV", dpi=ECG_DPI)
    assert (folder / "png" / "train-00-ecg.png").read_bytes() == expected


def test_eeg_epochs_are_drawn_as_one_trace_per_channel(gallery, dataset):
    folder = gallery("sleep-edf")
    metas = shard_metas(dataset("sleep-edf"))
    for card in cards(folder):
        signal = metas[card_key(card)]["signal"]
        assert f"{len(signal['channels'])} channels · {signal['sampling_rate']:g} Hz · 30.0 s · uV" in card
        assert re.search(r'src="png/train-\d\d-signal\.png"', card)


def test_volumes_show_mid_slices_in_three_planes_at_their_physical_aspect(gallery, dataset):
    folder = gallery("kits")
    metas = shard_metas(dataset("kits"))
    shown = cards(folder)
    assert len(shown) == 3
    for card in shown:
        vm = metas[card_key(card)]["volume"]
        z, y, x = vm["shape"]
        sz, sy, sx = vm["spacing"]
        planes = {}
        for plane in ("axial", "coronal", "sagittal"):
            assert f"<figcaption>{plane}</figcaption>" in card
            src = re.search(rf'src="(png/[a-z]+-\d\d-{plane}\.png)"', card).group(1)
            planes[plane] = decoded(folder / src)
        aspects = {"axial": x * sx / (y * sy), "coronal": x * sx / (z * sz), "sagittal": y * sy / (z * sz)}
        for plane, image in planes.items():
            assert image.shape[0] == 240
            assert abs(image.shape[1] / image.shape[0] - aspects[plane]) < 0.02


def test_a_window_that_clips_nearly_every_voxel_falls_back_to_a_percentile_stretch_and_says_so(gallery):
    details = [re.search(r'voxels[^<]*', c).group(0) for c in cards(gallery("kits"))]
    assert any("1st-99th percentile stretch (window abdomen clips" in d for d in details)
    assert any(d.endswith("window abdomen") for d in details)


def test_videos_show_a_strip_of_evenly_spaced_keyframes(gallery):
    folder = gallery("echonet")
    for card in cards(folder):
        assert "12 frames · 50 fps · 0.24 s; shown at 0.00, 0.04, 0.08, 0.14, 0.18, 0.22 s" in card
        strip = decoded(folder / re.search(r'src="(png/[a-z]+-\d\d-video\.png)"', card).group(1))
        assert strip.shape[0] == 160 and strip.shape[1] > 6 * 100


def test_graphs_are_drawn_with_their_size_and_smiles(gallery, dataset):
    folder = gallery("molecules")
    metas = shard_metas(dataset("molecules"))
    for card in cards(folder):
        meta = metas[card_key(card)]
        graph = meta["graph"]
        assert f"{graph['num_nodes']} nodes · {graph['num_edges']} directed edges · {html.escape(meta['smiles'])}" in card
        assert re.search(r'src="png/[a-z]+-\d\d-graph\.png"', card)


def test_multimodal_cards_show_every_field_with_an_excerpt_of_the_note_and_the_table(gallery, dataset):
    folder = gallery("mimic-iv")
    members = {key: sample["raw"] for key, sample in read_samples(dataset("mimic-iv")).items()}
    shown = cards(folder)
    assert any("text.txt" in members[card_key(c)] and "image.png" in members[card_key(c)] for c in shown)
    for card in shown:
        stored = members[card_key(card)]
        if "text.txt" in stored:
            text = stored["text.txt"].decode("utf-8")
            assert f'<pre class="text">{html.escape(text[:200])}' in card
            assert f"text · {len(text)} characters" in card
        if "tabular.json" in stored:
            first_field = next(iter(json.loads(stored["tabular.json"])))
            assert f"<tr><th>{html.escape(first_field)}</th>" in card
        assert ("image.png" in stored) == ("-image.png" in card)
        assert ("signal.npy" in stored) == ("-ecg.png" in card)


def test_each_classification_task_gets_a_label_chart_and_regression_tasks_a_summary(gallery, dataset):
    folder = gallery("echonet")
    tasks = json.loads((dataset("echonet") / "manifest.json").read_text())["tasks"]
    labels = page(folder).split('<section id="labels">')[1].split("</section>")[0]
    for name, task in tasks.items():
        if task["type"] == "regression":
            assert f"{task['summary']['mean']:.4g} {task['units']}" in labels
            assert not (folder / "png" / f"labels-{name}.png").exists()
        else:
            assert f'src="png/labels-{name}.png"' in labels


def test_the_header_counts_and_the_quarantine_table_match_inspect(gallery, dataset):
    summary = summarize(str(dataset("ptbxl")))
    text = page(gallery("ptbxl"))
    c = summary["counts"]
    for value, label in ((c["written"], "samples"), (c["quarantined"], "quarantined"), (c["excluded"], "excluded"), (c["discovered"], "discovered")):
        assert f"<b>{value}</b><span>{label}</span>" in text
    for reason in summary["quarantine"]:
        assert f'<td class="n">{reason["count"]}</td><td>{reason["stage"]}</td><td>{reason["error_type"]}</td><td>{html.escape(reason["message"])}</td>' in text
    for split, s in summary["splits"].items():
        assert f'{split}</a></th><td class="n">{s["num_samples"]}</td><td class="n">{s["num_subjects"]}</td>' in text


def test_the_same_dataset_gives_the_same_gallery_bytes(dataset, tmp_path):
    url = str(dataset("kits"))
    first, second = write_gallery(url, tmp_path / "a").parent, write_gallery(url, tmp_path / "b").parent
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)


def test_rewriting_a_gallery_leaves_no_stale_picture(dataset, tmp_path):
    write_gallery(str(dataset("vindr-cxr")), tmp_path, per_split=3)
    write_gallery(str(dataset("vindr-cxr")), tmp_path, per_split=1)
    assert sorted(p.name for p in (tmp_path / "png").glob("*-image.png")) == ["test-00-image.png", "train-00-image.png"]


def test_cli_writes_the_gallery_where_asked_and_says_where(dataset, tmp_path, capsys):
    assert main(["preview", str(dataset("echonet")), "--out", str(tmp_path / "g"), "--per-split", "1"]) == 0
    assert (tmp_path / "g" / "index.html").is_file()
    assert len(cards(tmp_path / "g")) == 3
    assert f"file://{(tmp_path / 'g' / 'index.html').resolve()}" in capsys.readouterr().out


def test_cli_defaults_to_climb_preview_slash_source_in_the_working_directory(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["preview", str(dataset("molecules")), "--per-split", "1"]) == 0
    assert (tmp_path / "climb-preview" / "molecules" / "index.html").is_file()


def test_cli_refuses_fewer_than_one_sample_per_split_in_one_line(dataset, tmp_path, capsys):
    assert main(["preview", str(dataset("kits")), "--out", str(tmp_path), "--per-split", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "climb preview: --per-split must be at least 1, got 0"


def test_cli_on_a_folder_without_manifest_says_what_to_point_at(tmp_path, capsys):
    assert main(["preview", str(tmp_path), "--out", str(tmp_path / "g")]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def test_an_s3_dataset_gives_the_same_pictures_as_its_local_copy(dataset, gallery, s3_bucket, tmp_path):
    import s3fs

    local = dataset("kits")
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    fs.put(str(local), f"{s3_bucket.name}/out/kits", recursive=True)
    url = f"{s3_bucket.url}/out/kits"
    index = write_gallery(url, tmp_path / "s3", s3_bucket.storage_options)
    assert url in index.read_text(encoding="utf-8")
    reference = gallery("kits")
    names = sorted(p.name for p in (reference / "png").glob("*.png"))
    assert names == sorted(p.name for p in (tmp_path / "s3" / "png").glob("*.png"))
    assert all((reference / "png" / n).read_bytes() == (tmp_path / "s3" / "png" / n).read_bytes() for n in names)
