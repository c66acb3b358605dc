"""Matplotlib figures for the preview gallery: multi-channel traces, graphs, label bars.

(12-lead ECGs are drawn by climb.report.ecg_plot as the standard paper printout.)

Figures are built on `matplotlib.figure.Figure` with the Agg canvas (no pyplot, no global state, no
display needed) and saved without a Software/date stamp, so the same sample gives the same PNG.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np

ACCENT = "#2563eb"
MUTED = "#cbd5e1"
INK = "#1e293b"

CPK = {"C": "#3f3f46", "N": "#2f5bd3", "O": "#e03a3a", "S": "#c9a400", "P": "#f08c00", "F": "#16a34a",
       "Cl": "#16a34a", "Br": "#a52a2a", "I": "#7c3aed", "H": "#94a3b8"}
BOND_WIDTH = {"SINGLE": 1.4, "DOUBLE": 3.0, "TRIPLE": 4.4, "AROMATIC": 2.2}


def _figure(width_in: float, height_in: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=100)
    fig.patch.set_facecolor("white")
    return fig


def _png(fig, tight: bool = True) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight" if tight else None, pad_inches=0.05)
    return buf.getvalue()


def _nice(value: float) -> float:
    """The largest of 1, 2, 5 x 10^k not above `value` (a readable scale-bar length)."""
    if value <= 0:
        return 1.0
    exp = np.floor(np.log10(value))
    for m in (5, 2, 1):
        if m * 10**exp <= value:
            return float(m * 10**exp)
    return float(10**exp)


def traces(signal: np.ndarray, fs: float, channels: Sequence[str], units: str = "", max_seconds: float = 30.0) -> bytes:
    """Stacked traces of a multi-channel signal (EEG epochs, any signal that is not a 12-lead ECG), one gain.

    Every channel is centred on its median and drawn with the same gain, so amplitudes compare
    across channels; excursions beyond one row are clipped, as EEG viewers do. A scale bar gives
    the gain in `units`.

    Args:
        signal: float32 [C, T].
        fs: sampling rate in Hz.
        channels: C channel names.
        units: the signal's units, for the scale bar.
        max_seconds: draw at most the first this many seconds.
    """
    from matplotlib.collections import LineCollection

    x = np.asarray(signal, np.float64)[:, : max(1, int(round(max_seconds * fs)))]
    c, n = x.shape
    t = np.arange(n) / fs
    centred = x - np.median(x, axis=1, keepdims=True)
    spread = np.percentile(centred, 99, axis=1) - np.percentile(centred, 1, axis=1)
    # rows 1.2 typical peak-to-peak ranges apart: neighbours touch only on outliers
    gap = 1.2 * float(np.median(spread[spread > 0])) if np.any(spread > 0) else 1.0
    fig = _figure(12, max(1.8, 0.32 * c + 0.9))
    ax = fig.add_subplot()
    offsets = -np.arange(c) * gap
    segments = [np.column_stack([t, np.clip(centred[i], -gap, gap) + offsets[i]]) for i in range(c)]
    ax.add_collection(LineCollection(segments, colors=INK, linewidths=0.6))
    ax.set_xlim(0, t[-1] if n > 1 else 1)
    ax.set_ylim(offsets[-1] - gap, gap)
    ax.set_yticks(offsets, list(channels), fontsize=8)
    ax.set_xlabel("seconds", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    bar = _nice(gap / 2)
    x0 = t[-1] * 1.005 if n > 1 else 1
    ax.plot([x0, x0], [offsets[0] - bar / 2, offsets[0] + bar / 2], color=ACCENT, lw=2, clip_on=False)
    ax.text(x0, offsets[0] + bar / 2, f" {bar:g} {units}".rstrip(), fontsize=8, color=ACCENT, va="bottom", clip_on=False)
    ax.grid(axis="x", color="#e2e8f0", lw=0.6)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    return _png(fig)


def _molecule_coords(atomic_numbers: Sequence[int], bonds: Sequence[tuple[int, int]], orders: Sequence[str]) -> np.ndarray:
    """2D depiction coordinates [N, 2] of a molecular graph, in node order (RDKit's depictor)."""
    from rdkit import Chem
    from rdkit.Chem import rdDepictor

    mol = Chem.RWMol()
    for z in atomic_numbers:
        mol.AddAtom(Chem.Atom(int(z)))
    for (i, j), order in zip(bonds, orders):
        mol.AddBond(int(i), int(j), getattr(Chem.BondType, order, Chem.BondType.SINGLE))
    mol.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(mol)
    rdDepictor.Compute2DCoords(mol)
    conf = mol.GetConformer()
    return np.array([[conf.GetAtomPosition(i).x, conf.GetAtomPosition(i).y] for i in range(mol.GetNumAtoms())])


def _layout(n: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """Node positions [N, 2]: a circle for dense graphs (connectomes), else a seeded spring layout."""
    if len(pairs) > 3 * n or n > 500:
        angles = np.pi / 2 - 2 * np.pi * np.arange(n) / max(n, 1)
        return np.column_stack([np.cos(angles), np.sin(angles)])
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(pairs)
    pos = nx.spring_layout(g, seed=0)
    return np.array([pos[i] for i in range(n)]).reshape(n, 2)


def graph_drawing(x: np.ndarray, edge_index: np.ndarray, edge_attr: np.ndarray | None, graph_meta: dict[str, Any]) -> bytes:
    """A drawing of a stored graph: molecules as a chemist draws them, other graphs by edge weight.

    Molecules are recognised from their feature names (atomic_number and bond_type columns) and
    laid out by RDKit's depictor, heteroatoms labelled and bond width showing the bond order.
    Other graphs are laid out on a circle when dense (connectomes), else with a seeded spring
    layout, and edges coloured by weight (blue negative, red positive) when they have one.

    Args:
        x: float32 [N, F] node features.
        edge_index: int64 [2, E] (both directions of an undirected edge may be listed).
        edge_attr: float32 [E, D] or None.
        graph_meta: the sample's meta["graph"] (node_features / edge_features names).
    """
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection

    from climb.transforms.graph import BOND_TYPES

    n = x.shape[0]
    first_edge: dict[tuple[int, int], int] = {}
    for e, (i, j) in enumerate(edge_index.T.tolist()):
        if i != j:
            first_edge.setdefault((min(i, j), max(i, j)), e)
    pairs = list(first_edge)
    node_features = graph_meta.get("node_features")
    edge_features = graph_meta.get("edge_features")
    molecule = (
        isinstance(node_features, list) and "atomic_number" in node_features and edge_attr is not None
        and isinstance(edge_features, list) and "bond_type" in edge_features
    )
    fig = _figure(3.2, 3.2)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96))
    if molecule:
        from rdkit import Chem

        numbers = [int(z) for z in x[:, node_features.index("atomic_number")]]
        bond_col = edge_features.index("bond_type")
        orders = [BOND_TYPES[min(int(edge_attr[e, bond_col]), len(BOND_TYPES) - 1)] for e in first_edge.values()]
        xy = _molecule_coords(numbers, pairs, orders)
        table = Chem.GetPeriodicTable()
        symbols = [table.GetElementSymbol(z) if 0 < z < 119 else "?" for z in numbers]
        widths = [BOND_WIDTH.get(o, 1.4) for o in orders]
        ax.add_collection(LineCollection([xy[[i, j]] for i, j in pairs], colors="#64748b", linewidths=widths, zorder=1))
        ax.scatter(xy[:, 0], xy[:, 1], s=[30 if s == "C" else 150 for s in symbols],
                   c=[CPK.get(s, "#a855f7") for s in symbols], zorder=2, edgecolors="white", linewidths=0.8)
        for (px, py), s in zip(xy, symbols):
            if s != "C":
                ax.text(px, py, s, fontsize=7, color="white", ha="center", va="center", fontweight="bold", zorder=3)
    else:
        xy = _layout(n, pairs)
        lines = [xy[[i, j]] for i, j in pairs]
        if edge_attr is not None and edge_attr.ndim == 2 and edge_attr.shape[1] == 1 and pairs:
            w = np.array([edge_attr[e, 0] for e in first_edge.values()], np.float64)
            scale = float(np.max(np.abs(w))) or 1.0
            colors = colormaps["coolwarm"]((w / scale + 1) / 2)
            colors[:, 3] = 0.25 + 0.6 * np.abs(w) / scale
            ax.add_collection(LineCollection(lines, colors=colors, linewidths=1.0, zorder=1))
        else:
            ax.add_collection(LineCollection(lines, colors="#94a3b8", linewidths=1.0, zorder=1))
        ax.scatter(xy[:, 0], xy[:, 1], s=max(8.0, 160 / max(1, n) ** 0.5), c=ACCENT, zorder=2, edgecolors="white", linewidths=0.6)
    ax.set_aspect("equal")
    ax.margins(0.08)
    ax.autoscale_view()
    ax.axis("off")
    return _png(fig, tight=False)


def label_bars(task: dict[str, Any]) -> bytes:
    """Horizontal bars of one classification task's label counts from the manifest, masked in grey.

    Args:
        task: manifest["tasks"][name]: type, classes, counts {class: n}, masked (int, or
            {class: n} for multilabel tasks, where each class is masked separately).
    """
    from matplotlib.ticker import MaxNLocator

    classes = list(task["classes"])
    counts = np.array([task["counts"].get(c, 0) for c in classes], np.float64)
    masked = task.get("masked")
    per_class = isinstance(masked, dict)
    if per_class:
        names, values = classes, counts
        hidden = np.array([masked.get(c, 0) for c in classes], np.float64)
    else:
        extra = ["(masked)"] if masked else []
        names, values = classes + extra, np.append(counts, [masked] if masked else [])
        hidden = np.zeros(len(names))
    fig = _figure(4.4, 0.22 * len(names) + 0.75)
    ax = fig.add_subplot()
    y = np.arange(len(names))
    colors = [MUTED if name == "(masked)" else ACCENT for name in names]
    ax.barh(y, values, color=colors, height=0.72, label="positive" if per_class else None)
    if hidden.any():
        ax.barh(y, hidden, left=values, color=MUTED, height=0.72, label="masked")
        ax.legend(frameon=False, fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, borderaxespad=0.2)
    right = values + hidden
    top = float(right.max()) if len(right) and right.max() > 0 else 1.0
    for yi, v, r in zip(y, values, right):
        ax.text(r + top * 0.015, yi, f"{int(v)}", va="center", fontsize=8, color=INK)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.12)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    ax.tick_params(axis="x", labelsize=8)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#e2e8f0", lw=0.6)
    ax.set_axisbelow(True)
    return _png(fig)
