"""Graphs from connectivity matrices and molecules, and edge-weight normalisation.

Every builder returns the schema's graph dict: ``x`` float32 [N, F] node features, ``edge_index``
int64 [2, E] (row 0 = source node, row 1 = target node, messages flow source -> target, as in
torch_geometric) and ``edge_attr`` float32 [E, D]. Edges are listed in a fixed order so the same input
always gives the same bytes.

Pure functions: no files, no logging; RDKit is imported inside the molecule functions so connectome
users never load it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Atom features of `molecule_graph`, column order of x. Categorical ones are indices into the
# vocabularies below (the last entry, OTHER, catches anything not listed).
ATOM_FEATURES = ("atomic_number", "degree", "formal_charge", "hybridization", "is_aromatic", "total_num_hs", "is_in_ring")
HYBRIDIZATIONS = ("UNSPECIFIED", "S", "SP", "SP2", "SP3", "SP3D", "SP3D2", "OTHER")
# Bond features, column order of edge_attr.
BOND_FEATURES = ("bond_type", "is_conjugated", "is_in_ring", "stereo")
BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC", "OTHER")
BOND_STEREO = ("STEREONONE", "STEREOANY", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS", "OTHER")


def _vocab_index(vocab: tuple[str, ...], name: str) -> int:
    return vocab.index(name) if name in vocab else len(vocab) - 1


def correlation_graph(
    matrix: np.ndarray,
    *,
    threshold: float | None = None,
    top_k: int | None = None,
    absolute: bool = True,
    self_loops: bool = False,
) -> dict[str, np.ndarray]:
    """A graph from a square connectivity (e.g. correlation) matrix.

    Node i's features are row i of the matrix. Edge selection uses a score, |w| when `absolute`
    (strong anti-correlation is as informative as correlation) else w:

    - ``threshold=t``: edge i -> j for every pair with score > t (symmetric for a symmetric
      matrix); ``threshold=0`` keeps every nonzero entry, the dense graph of BrainGB.
    - ``top_k=k``: node i receives edges from its k highest-scoring other nodes (edge j -> i, so
      every node aggregates exactly k messages); ties go to the lower node index.

    Args:
        matrix: float [N, N], finite.
        threshold: score cut-off; exactly one of threshold and top_k is given.
        top_k: neighbours per node, 1 <= k < N (k = N when self loops are kept).
        absolute: score by |w| instead of w.
        self_loops: keep i -> i edges (the diagonal); off by default, since a correlation matrix's
            diagonal is 1 by construction and carries no information.

    Returns:
        x float32 [N, N]; edge_index int64 [2, E] sorted by (source, target); edge_attr float32
        [E, 1] holding the signed matrix entry w[source, target].
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"a connectivity matrix must be square and non-empty, got shape {m.shape}")
    if not np.isfinite(m).all():
        bad = int(m.size - np.isfinite(m).sum())
        raise ValueError(f"the connectivity matrix has {bad} NaN/inf entries")
    if (threshold is None) == (top_k is None):
        raise ValueError("give exactly one of threshold and top_k")
    n = m.shape[0]
    score = np.abs(m) if absolute else m.copy()
    off_diagonal = ~np.eye(n, dtype=bool)
    if threshold is not None:
        adjacency = score > threshold
    else:
        limit = n if self_loops else n - 1
        if not 1 <= top_k <= limit:
            raise ValueError(f"top_k must be in [1, {limit}] for {n} nodes, got {top_k}")
        candidates = np.where(off_diagonal | self_loops, score, -np.inf)
        # per target row i: column indices of its k best sources, stable so ties keep low indices
        best = np.argsort(-candidates, axis=1, kind="stable")[:, :top_k]
        adjacency = np.zeros((n, n), dtype=bool)
        adjacency[best, np.arange(n)[:, None]] = True  # edge source=best[i, r] -> target=i
    if not self_loops:
        adjacency &= off_diagonal
    source, target = np.nonzero(adjacency)
    edge_index = np.stack([source, target]).astype(np.int64)
    edge_attr = m[source, target].astype(np.float32).reshape(-1, 1)
    return {"x": m.astype(np.float32), "edge_index": edge_index, "edge_attr": edge_attr}


def molecule_graph(mol: Any) -> dict[str, np.ndarray]:
    """A graph from an RDKit Mol: one node per atom (as parsed, implicit hydrogens), two directed
    edges per bond (i -> j then j -> i, in bond order), the layout of OGB's smiles2graph.

    Node features (ATOM_FEATURES): atomic number, degree (explicit neighbours), formal charge,
    hybridization (index into HYBRIDIZATIONS), aromatic (0/1), total number of hydrogens, in a ring
    (0/1). Edge features (BOND_FEATURES): bond type (index into BOND_TYPES), conjugated (0/1), in a
    ring (0/1), stereo (index into BOND_STEREO). All stored as float32 to fit the schema.

    Returns:
        x float32 [N, 7], edge_index int64 [2, 2B], edge_attr float32 [2B, 4].
    """
    atoms = [
        (
            atom.GetAtomicNum(),
            atom.GetDegree(),
            atom.GetFormalCharge(),
            _vocab_index(HYBRIDIZATIONS, str(atom.GetHybridization())),
            int(atom.GetIsAromatic()),
            atom.GetTotalNumHs(),
            int(atom.IsInRing()),
        )
        for atom in mol.GetAtoms()
    ]
    x = np.array(atoms, dtype=np.float32).reshape(len(atoms), len(ATOM_FEATURES))
    pairs: list[tuple[int, int]] = []
    features: list[tuple[int, int, int, int]] = []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        row = (
            _vocab_index(BOND_TYPES, str(bond.GetBondType())),
            int(bond.GetIsConjugated()),
            int(bond.IsInRing()),
            _vocab_index(BOND_STEREO, str(bond.GetStereo())),
        )
        pairs += [(i, j), (j, i)]
        features += [row, row]
    edge_index = np.array(pairs, dtype=np.int64).reshape(-1, 2).T.copy()
    edge_attr = np.array(features, dtype=np.float32).reshape(-1, len(BOND_FEATURES))
    return {"x": x, "edge_index": edge_index, "edge_attr": edge_attr}


def remove_self_loops(edge_index: np.ndarray, edge_attr: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Drop i -> i edges (and their attribute rows)."""
    keep = edge_index[0] != edge_index[1]
    return edge_index[:, keep], None if edge_attr is None else edge_attr[keep]


def add_self_loops(
    edge_index: np.ndarray, edge_weight: np.ndarray, num_nodes: int, fill: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Append one i -> i edge of weight `fill` per node (after removing existing self loops)."""
    edge_index, edge_weight = remove_self_loops(edge_index, edge_weight)
    loops = np.arange(num_nodes, dtype=np.int64)
    return (
        np.concatenate([edge_index, np.stack([loops, loops])], axis=1),
        np.concatenate([edge_weight, np.full(num_nodes, fill, dtype=edge_weight.dtype)]),
    )


def in_degree(edge_index: np.ndarray, num_nodes: int, edge_weight: np.ndarray | None = None) -> np.ndarray:
    """Weighted in-degree per node: sum of |weight| over edges arriving at it (count if no weights)."""
    weight = np.ones(edge_index.shape[1]) if edge_weight is None else np.abs(edge_weight).astype(np.float64)
    return np.bincount(edge_index[1], weights=weight, minlength=num_nodes).astype(np.float64)


def normalize_edge_weights(edge_index: np.ndarray, edge_weight: np.ndarray, num_nodes: int, mode: str = "sym") -> np.ndarray:
    """Rescale edge weights by node degree, so high-degree nodes do not dominate aggregation.

    Degrees are sums of absolute weights, so signed (anti-correlation) weights keep their sign and
    never divide by a near-zero signed sum.

    Args:
        edge_index: int [2, E].
        edge_weight: float [E].
        num_nodes: N.
        mode: "sym" -> w_ij / sqrt(d_i d_j) with in-degrees d (the GCN normalisation, which assumes
            a symmetric graph); "row" -> w_ij / d_j, the absolute weights arriving at each node sum to 1.

    Returns:
        float32 [E]; edges touching a node of degree 0 get weight 0.
    """
    deg = in_degree(edge_index, num_nodes, edge_weight)
    with np.errstate(divide="ignore"):
        if mode == "sym":
            inv = np.where(deg > 0, 1.0 / np.sqrt(deg), 0.0)
            scale = inv[edge_index[0]] * inv[edge_index[1]]
        elif mode == "row":
            scale = np.where(deg > 0, 1.0 / deg, 0.0)[edge_index[1]]
        else:
            raise ValueError(f"unknown normalisation {mode!r}; use 'sym' or 'row'")
    return (edge_weight.astype(np.float64) * scale).astype(np.float32)
