"""`climb evaluate`: how well does a pretrained encoder transfer to a task? Probe, k-shot, zero-shot.

    climb evaluate out/run/encoders/signal.pt out/ptbxl --task ecg_superclass --k 1,5,10,50 --seeds 0,1,2

Every method is trained on the dataset's train split and scored on its test split:
    probe           linear probe on frozen embeddings of every labelled train sample
    kshot-probe     the same probe fitted on k shots per class only
    kshot-finetune  encoder + linear head fine-tuned on k shots per class (head initialised by kshot-probe)
    zero-shot       no training: the pretrained heads score the classes the task registry links
Shots come from fewshot.k_shot (deterministic per seed, class-balanced where possible, never from a
patient of the test split). With k <= 5 the score depends much on which shots were drawn, so those k
run at least `small_k_seeds` seeds (10 by default; the seeds given, then the next integers). Each row
reports AUROC / macro-F1 (classification) or MAE (regression) averaged over seeds, the spread over
seeds (seed_std, seed_values), and a bootstrap interval that resamples test subjects and seeds
together (bootstrap.seed_bootstrap), so the chance of the shot draw is inside the interval.
With a baseline encoder (`--baseline`), both run on the same shots and the report adds the paired
bootstrap interval of each difference (bootstrap.paired_bootstrap).

Transfer is measured on what pretraining did not see: a dataset (same source, manifest, source
fingerprint or folder) or task that the encoder file lists as trained on is refused unless
`allow_seen` (`--allow-seen`), and zero-shot never reads the target task's own pretrained head.
Output in --out: results.json, results.md and score_vs_k.png (transfer_report.py).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from climb.schemas.tasks import Task, get_task
from climb.trainer.bootstrap import paired_bootstrap, seed_bootstrap, subject_bootstrap
from climb.loaders.shards import dataset_root
from climb.trainer.embed import Embedded, batches, embed_split, file_sha256, open_split, read_manifest
from climb.trainer.export import Readout, build_encoder, pretrained_tasks
from climb.trainer.fewshot import k_shot
from climb.trainer.heads import predict
from climb.trainer.metrics import task_metrics
from climb.trainer.probe import Adapted, finetune, fit_probe
from climb.trainer.zeroshot import NoMappedClasses, zero_shot_links, zero_shot_metrics, zero_shot_scores

METHODS = ("probe", "kshot-probe", "kshot-finetune", "zero-shot")
SMALL_K = 5  # k up to this runs at least Settings.small_k_seeds seeds


@dataclass(frozen=True)
class Settings:
    ks: tuple[int, ...] = (1, 5, 10, 50)  # shots per class
    seeds: tuple[int, ...] = (0, 1, 2)  # one shot draw and fine-tuning run per seed
    small_k_seeds: int = 10  # at least this many seeds for k <= 5 (the seeds, then the next integers)
    allow_seen: bool = False  # evaluate on a dataset or task the encoder was pretrained on
    methods: tuple[str, ...] = ()  # empty = all; zero-shot only where the registry links classes
    bootstrap: int = 1000  # replicates over test subjects
    bootstrap_seed: int = 0
    train_split: str = "train"
    test_split: str = "test"
    finetune_steps: int = 50
    lr: float = 3e-4
    l2: float = 1e-3
    batch_size: int = 32
    where: str | None = None  # a view filter: evaluate only the samples it selects (docs/views.md)


@dataclass
class Prediction:
    """Scores of one method on the labelled test rows, one array per seed."""

    method: str
    k: int | None
    scores: list[np.ndarray]
    shots: list[int]
    shot_keys: list[list[str]] | None = None  # k-shot methods: the sample keys trained on, per seed
    seeds: tuple[int, ...] = ()  # k-shot methods: the seed of each entry of scores


def labelled(part: Embedded, task: str) -> np.ndarray:
    """Row indices with a known label (any known class for multilabel)."""
    mask = part.masks[task]
    return np.flatnonzero(mask.any(1) if mask.ndim == 2 else mask)


def _scores(task: Task, logits: torch.Tensor) -> np.ndarray:
    return predict(task, logits).detach().cpu().double().numpy()


class Transfer:
    """One evaluation: an encoder file, a dataset, a task. `run()` returns the report dict."""

    def __init__(self, record: dict[str, Any], url: str, task_name: str, settings: Settings,
                 storage_options: dict | None = None, log: Callable[[str], None] = print, encoder_sha256: str | None = None) -> None:
        self.record, self.url, self.settings, self.options, self.log = record, url, settings, storage_options, log
        self.encoder_sha256 = encoder_sha256
        self.modality = record["modality"]
        self.encoder = build_encoder(record)
        self.manifest, self.manifest_sha = read_manifest(url, storage_options)
        if task_name not in self.manifest.get("tasks", {}):
            raise ValueError(f"{url} does not label task {task_name!r}; it labels {sorted(self.manifest.get('tasks', {}))}")
        self.task = get_task(task_name)
        for split in (settings.train_split, settings.test_split):
            if split not in self.manifest.get("splits", {}):
                raise ValueError(f"{url} has no split {split!r}; it has {sorted(self.manifest.get('splits', {}))}")
        unknown = sorted(set(settings.methods) - set(METHODS))
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; methods are {list(METHODS)}")
        self.methods = settings.methods or METHODS
        self._refuse_seen()
        self.zero_shot = self._zero_shot_plan()

    def seeds_for(self, k: int) -> tuple[int, ...]:
        """The seeds run for k shots: Settings.seeds, extended to small_k_seeds for k <= SMALL_K."""
        seeds = list(self.settings.seeds)
        if k <= SMALL_K:
            extra = (s for s in range(max(seeds, default=-1) + 1, 1 << 31) if s not in seeds)
            while len(seeds) < self.settings.small_k_seeds:
                seeds.append(next(extra))
        return tuple(seeds)

    def _refuse_seen(self) -> None:
        """ValueError when the encoder was pretrained on this dataset or task (unless allow_seen)."""
        if self.settings.allow_seen:
            return
        seen_tasks = {t["name"] for t in self.record["tasks"]}
        if self.task.name in seen_tasks:
            raise ValueError(f"the encoder was pretrained on task {self.task.name} (its heads were trained on it); "
                             f"a score there measures fit, not transfer. Hold it out in `climb train` "
                             f"(holdout_tasks) or pass --allow-seen to evaluate anyway")
        mine = {"source": self.manifest.get("source"), "sha256": self.manifest_sha,
                "source_fingerprint": self.manifest.get("source_fingerprint"), "root": dataset_root(self.url)}
        for used in self.record["manifests"]:
            theirs = {"source": used.get("source"), "sha256": used.get("sha256"),
                      "source_fingerprint": used.get("source_fingerprint"), "root": dataset_root(used.get("url", ""))}
            same = [name for name, value in mine.items() if value and theirs[name] == value]
            if same:
                raise ValueError(f"the encoder was pretrained on {used.get('url')} (same {', '.join(same)} as {self.url}); "
                                 f"a score there measures fit, not transfer. Hold the dataset out in `climb train` "
                                 f"(holdout_datasets) or pass --allow-seen to evaluate anyway")

    def _zero_shot_plan(self) -> dict[str, Any]:
        """{"links": [...]} when zero-shot runs, else {"skipped": reason}; refuses an explicit request it cannot do."""
        if "zero-shot" not in self.methods:
            return {"skipped": "not requested"}
        try:
            if not self.record.get("readout"):
                raise NoMappedClasses("the encoder file has no pretrained heads (it was not written by `climb train`)")
            return {"links": zero_shot_links(self.task, pretrained_tasks(self.record))}
        except NoMappedClasses as exc:
            if self.settings.methods:  # asked for by name: refuse
                raise
            self.methods = tuple(m for m in self.methods if m != "zero-shot")
            return {"skipped": str(exc)}

    def _embed(self, split: str) -> Embedded:
        self.log(f"embedding the {split} split of {self.url} ({self.modality})")
        return embed_split(self.encoder, self.modality, self.url, split, (self.task.name,), self.settings.batch_size,
                           self.options, self.settings.where)

    def run(self) -> dict[str, Any]:
        s, name = self.settings, self.task.name
        train, test = self._embed(s.train_split), self._embed(s.test_split)
        test_rows = labelled(test, name) if name in test.masks else np.zeros(0, dtype=np.int64)
        if not len(test_rows):
            raise ValueError(f"the {s.test_split} split has no sample with the modality {self.modality!r} and a {name} label")
        test_subjects = set(test.subjects[test_rows].tolist())
        train_rows = labelled(train, name) if name in train.masks else np.zeros(0, dtype=np.int64)
        # No patient of the test split (labelled or not) may train the model.
        pool = train_rows[~np.isin(train.subjects[train_rows], test.subjects)]
        if not len(pool):
            raise ValueError(f"the {s.train_split} split has no labelled sample of a subject outside the {s.test_split} split")
        y, m = test.labels[name][test_rows], test.masks[name][test_rows]
        x_test = torch.from_numpy(test.embeddings[test_rows])
        self.predictions = self._predict(train, pool, test_rows, x_test)
        self.test = (test.subjects[test_rows], test.keys[test_rows], y, m)
        rows = [self._row(p) for p in self.predictions]
        return {
            "format": "climb-transfer-report", "format_version": 2,
            "encoder": {"sha256": self.encoder_sha256, "modality": self.modality, "step": self.record["step"],
                        "pretrained_tasks": [t["name"] for t in self.record["tasks"]], "holdout": self.record["holdout"],
                        "manifests": self.record["manifests"]},
            "dataset": {"url": self.url, "source": self.manifest.get("source"), "manifest_sha256": self.manifest_sha},
            "task": {"name": name, "type": self.task.type, "classes": list(self.task.classes), "units": self.task.units},
            "splits": {
                "train": {"split": s.train_split, "labelled": int(len(train_rows)), "pool": int(len(pool)),
                          "left_out_test_subjects": int(len(train_rows) - len(pool)), "without_modality": train.without_modality},
                "test": {"split": s.test_split, "labelled": int(len(test_rows)), "subjects": len(test_subjects),
                         "without_modality": test.without_modality},
            },
            "bootstrap": {"unit": "subject", "replicates": s.bootstrap, "level": 0.95, "seed": s.bootstrap_seed,
                          "seeds_resampled": True},
            "settings": {"ks": list(s.ks), "seeds": list(s.seeds), "small_k_seeds": s.small_k_seeds, "small_k": SMALL_K,
                         "allow_seen": s.allow_seen, "methods": list(self.methods),
                         "finetune_steps": s.finetune_steps, "lr": s.lr, "l2": s.l2, "batch_size": s.batch_size},
            "zero_shot": self._zero_shot_summary(),
            "results": rows,
        }

    def _zero_shot_summary(self) -> dict[str, Any]:
        if "links" not in self.zero_shot:
            return {"skipped": self.zero_shot["skipped"]}
        tasks = {t.name: t for t in pretrained_tasks(self.record)}
        return {"classes": {c: (link.describe(tasks) if link else None)
                            for c, link in zip(self.task.classes, self.zero_shot["links"])}}

    def _predict(self, train: Embedded, pool: np.ndarray, test_rows: np.ndarray, x_test: torch.Tensor) -> list[Prediction]:
        s, task, name = self.settings, self.task, self.task.name
        x_pool = torch.from_numpy(train.embeddings[pool])
        y_pool, m_pool = torch.from_numpy(train.labels[name][pool]), torch.from_numpy(train.masks[name][pool])
        out: list[Prediction] = []
        if "probe" in self.methods:
            probe = fit_probe(task, x_pool, y_pool, m_pool, s.l2)
            with torch.no_grad():
                out.append(Prediction("probe", None, [_scores(task, probe(x_test))], [len(pool)]))
        wants_shots = any(m.startswith("kshot") for m in self.methods)
        shots = {(k, seed): pool[k_shot(task, train.labels[name][pool], train.masks[name][pool], train.subjects[pool],
                                        train.keys[pool], k, seed)] for k in s.ks for seed in self.seeds_for(k)} if wants_shots else {}

        def kshot_prediction(method: str, k: int, scores: list[np.ndarray]) -> Prediction:
            seeds = self.seeds_for(k)
            return Prediction(method, k, scores, [len(shots[(k, seed)]) for seed in seeds],
                              [train.keys[shots[(k, seed)]].tolist() for seed in seeds], seeds)

        if "kshot-probe" in self.methods:
            for k in s.ks:
                scores = []
                for seed in self.seeds_for(k):
                    idx = shots[(k, seed)]
                    probe = fit_probe(task, torch.from_numpy(train.embeddings[idx]), torch.from_numpy(train.labels[name][idx]),
                                      torch.from_numpy(train.masks[name][idx]), s.l2)
                    with torch.no_grad():
                        scores.append(_scores(task, probe(x_test)))
                out.append(kshot_prediction("kshot-probe", k, scores))
        if "kshot-finetune" in self.methods:
            samples = self._collect(s.train_split, {train.keys[i] for idx in shots.values() for i in idx})
            for k in s.ks:
                scores = []
                for seed in self.seeds_for(k):
                    self.log(f"fine-tuning on {len(shots[(k, seed)])} shots (k={k}, seed {seed})")
                    chosen = [samples[train.keys[i]] for i in shots[(k, seed)]]
                    adapted = finetune(self.encoder, self.modality, task, chosen, steps=s.finetune_steps, lr=s.lr,
                                       batch_size=s.batch_size, l2=s.l2, seed=seed)
                    scores.append(self._score_adapted(adapted, test_rows))
                out.append(kshot_prediction("kshot-finetune", k, scores))
        if "zero-shot" in self.methods:
            readout = Readout(self.record)
            with torch.no_grad():
                logits = readout(x_test)
            tasks = {t.name: t for t in pretrained_tasks(self.record)}
            out.append(Prediction("zero-shot", 0, [zero_shot_scores(self.zero_shot["links"], logits, tasks)], [0]))
        return out

    def _collect(self, split: str, keys: set[str]) -> dict[str, dict[str, Any]]:
        """The decoded samples of `split` whose keys are wanted (one pass over the split)."""
        found: dict[str, dict[str, Any]] = {}
        if not keys:
            return found
        for sample in open_split(self.url, split, self.modality, (self.task.name,), self.options, self.settings.where):
            if sample["__key__"] in keys:
                found[sample["__key__"]] = sample
        return found

    @torch.no_grad()
    def _score_adapted(self, adapted: Adapted, test_rows: np.ndarray) -> np.ndarray:
        """Scores of a fine-tuned model on the test rows (in the order embed_split gave them)."""
        chunks = []
        for batch in batches(self.url, self.settings.test_split, self.modality, (self.task.name,), self.settings.batch_size,
                             self.options):
            logits, rows = adapted(batch)
            if len(rows):
                chunks.append(_scores(self.task, logits))
        return np.concatenate(chunks)[test_rows]

    def metric(self, p: Prediction) -> Callable[[np.ndarray, int], dict]:
        """f(test row indices, seed index) -> the metrics of prediction p's run of that seed on those rows."""
        _, _, y, m = self.test
        score = zero_shot_metrics if p.method == "zero-shot" else task_metrics

        def metric(idx: np.ndarray, seed: int) -> dict:
            return score(self.task, p.scores[seed][idx], y[idx], m[idx])
        return metric

    def _row(self, p: Prediction) -> dict[str, Any]:
        """Metrics averaged over seeds, their spread over seeds, and intervals resampling subjects and seeds."""
        subjects = self.test[0]
        metric, settings = self.metric(p), self.settings
        per_seed = [metric(np.arange(len(subjects)), i) for i in range(len(p.scores))]
        if len(p.scores) > 1:
            intervals = seed_bootstrap(subjects, metric, len(p.scores), settings.bootstrap, settings.bootstrap_seed)
        else:
            intervals = subject_bootstrap(subjects, lambda idx: metric(idx, 0), settings.bootstrap, settings.bootstrap_seed)
        metrics = {}
        for name in per_seed[0]:
            if name == "n":
                continue
            values = [r[name] for r in per_seed]
            known = [v for v in values if v is not None]
            metrics[name] = {"value": _mean(values), "seed_values": values,
                             "seed_std": float(np.std(known, ddof=1)) if len(known) > 1 else None,
                             **intervals.get(name, {"low": None, "high": None, "replicates": 0})}
        row = {"method": p.method, "k": p.k, "shots": p.shots, "n": per_seed[0]["n"], "metrics": metrics}
        if p.seeds:
            row["seeds"] = list(p.seeds)
        return {**row, "shot_keys": p.shot_keys} if p.shot_keys is not None else row


def compare(first: Transfer, second: Transfer) -> list[dict[str, Any]]:
    """Paired bootstrap of first - second for each (method, k) both ran, on the same replicates.

    Both must have run on the same test rows (same dataset, task and splits: checked by sample key);
    k-shot runs of one seed used the same shots in both (the draw depends on the data and the seed only).
    """
    if not np.array_equal(first.test[1], second.test[1]):
        raise ValueError("the two encoders were scored on different test samples (their modalities or datasets differ)")
    theirs = {(p.method, p.k): p for p in second.predictions}
    rows = []
    for p in first.predictions:
        q = theirs.get((p.method, p.k))
        if q is None or p.seeds != q.seeds:
            continue
        s = first.settings
        intervals = paired_bootstrap(first.test[0], first.metric(p), second.metric(q), len(p.scores), s.bootstrap,
                                     s.bootstrap_seed)
        everyone = np.arange(len(first.test[0]))
        means = [{n: _mean([t.metric(r)(everyone, i).get(n) for i in range(len(r.scores))]) for n in intervals}
                 for t, r in ((first, p), (second, q))]
        rows.append({"method": p.method, "k": p.k, "metrics": {
            n: {"difference": None if means[0][n] is None or means[1][n] is None else means[0][n] - means[1][n], **entry}
            for n, entry in intervals.items()}})
    return rows


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def evaluate_transfer(checkpoint: str, url: str, task: str, settings: Settings = Settings(),
                      storage_options: dict | None = None, log: Callable[[str], None] = print,
                      baseline: str | None = None) -> dict[str, Any]:
    """The transfer report of an encoder file on a dataset's task (see the module docstring); with a
    baseline encoder file, also its report and the paired differences (report["comparison"])."""
    from climb.trainer.export import read_encoder_file

    def one(path: str) -> Transfer:
        return Transfer(read_encoder_file(path), url, task, settings, storage_options, log, file_sha256(path))

    main = one(checkpoint)
    report = main.run()
    if baseline is not None:
        other = one(baseline)
        base_report = other.run()
        report["comparison"] = {"baseline": {"path": str(baseline), "encoder": base_report["encoder"],
                                             "results": base_report["results"]},
                                "difference": "encoder - baseline, paired bootstrap over subjects and seeds",
                                "rows": compare(main, other)}
    return report


def _view_dataset(view_url: str, options: dict | None) -> tuple[str, str]:
    """(dataset URL, filter) of a view that selects from exactly one dataset: evaluation is per dataset."""
    from climb.errors import UserError
    from climb.loaders.views import dataset_root, load_view, stale
    from climb.schemas.views import ViewError

    try:
        view = load_view(view_url, options)
    except ViewError as exc:
        raise UserError(str(exc)) from None
    parts = [d for d in view.datasets if dataset_root(d.url).rsplit("/", 1)[-1] not in view.holdout_datasets]
    if len(parts) != 1:
        raise UserError(f"view {view_url} selects from {len(parts)} datasets; `climb evaluate` scores one dataset: "
                        "give a view with one dataset entry")
    changed = [p for p in stale(view, options) if "not pinned" not in p]
    if changed:
        raise UserError(f"view {view_url} is stale: " + "; ".join(changed))
    return dataset_root(parts[0].url), " and ".join(f"({w})" for w in (view.where, parts[0].where) if w) or "True"


def cli_evaluate(args: argparse.Namespace) -> int:
    """`climb evaluate CHECKPOINT MANIFEST --task T` (parser in climb/cli.py)."""
    from pathlib import Path

    from climb.errors import UserError
    from climb.loaders.shards import dataset_root
    from climb.loaders.views import is_view_url
    from climb.storage import storage_options
    from climb.trainer.transfer_report import write_report

    url, where = dataset_root(args.manifest), None
    if is_view_url(args.manifest):
        url, where = _view_dataset(args.manifest, storage_options(args.manifest, args.s3_endpoint))
    settings = Settings(ks=tuple(args.k), seeds=tuple(args.seeds), small_k_seeds=args.small_k_seeds,
                        allow_seen=args.allow_seen, methods=tuple(args.methods or ()), bootstrap=args.bootstrap,
                        train_split=args.train_split, test_split=args.test_split, finetune_steps=args.finetune_steps,
                        lr=args.lr, l2=args.l2, batch_size=args.batch_size, where=where)
    try:
        report = evaluate_transfer(args.checkpoint, url, args.task, settings, storage_options(url, args.s3_endpoint),
                                   baseline=args.baseline)
    except (ValueError, KeyError) as exc:  # NoMappedClasses is a ValueError
        raise UserError(str(exc).strip("'\"")) from exc
    paths = write_report(report, Path(args.out))
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0
