"""transforms/graph.py: connectivity and molecule graphs, normalisation."""

import numpy as np
import pytest

from climb.transforms.graph import (
    BOND_FEATURES,
    HYBRIDIZATIONS,
    add_self_loops,
    correlation_graph,
    molecule_graph,
    normalize_edge_weights,
    remove_self_loops,
)

M = np.array(
    [
        [1.0, 0.9, -0.5, 0.1],
        [0.9, 1.0, 0.2, 0.0],
        [-0.5, 0.2, 1.0, 0.3],
        [0.1, 0.0, 0.3, 1.0],
    ]
)


def edges(graph):
    return [tuple(e) for e in graph["edge_index"].T.tolist()]


def test_threshold_keeps_pairs_above_the_absolute_cut_in_row_major_order():
    g = correlation_graph(M, threshold=0.25)
    assert edges(g) == [(0, 1), (0, 2), (1, 0), (2, 0), (2, 3), (3, 2)]
    np.testing.assert_array_equal(g["edge_attr"][:, 0], np.float32([0.9, -0.5, 0.9, -0.5, 0.3, 0.3]))


def test_signed_threshold_drops_anticorrelations():
    g = correlation_graph(M, threshold=0.25, absolute=False)
    assert edges(g) == [(0, 1), (1, 0), (2, 3), (3, 2)]


def test_threshold_zero_is_the_dense_nonzero_graph_without_self_loops():
    g = correlation_graph(M, threshold=0.0)
    expected = [(i, j) for i in range(4) for j in range(4) if i != j and M[i, j] != 0]
    assert edges(g) == expected


def test_self_loops_are_kept_only_on_request():
    g = correlation_graph(M, threshold=0.95, self_loops=True)
    assert edges(g) == [(0, 0), (1, 1), (2, 2), (3, 3)]


def test_top_k_gives_every_node_exactly_k_incoming_edges_from_its_strongest_neighbours():
    g = correlation_graph(M, top_k=2)
    ei = g["edge_index"]
    assert np.bincount(ei[1], minlength=4).tolist() == [2, 2, 2, 2]
    incoming = {t: sorted(ei[0, ei[1] == t].tolist()) for t in range(4)}
    # node 0: |0.9| and |-0.5|; node 3: 0.3 and 0.1 (node 1's 0.0 is weakest)
    assert incoming == {0: [1, 2], 1: [0, 2], 2: [0, 3], 3: [0, 2]}
    np.testing.assert_array_equal(g["edge_attr"][:, 0], M[ei[0], ei[1]].astype(np.float32))


def test_top_k_breaks_ties_towards_the_lower_index():
    tied = np.ones((4, 4))
    g = correlation_graph(tied, top_k=1)
    # node 0 takes node 1; nodes 1, 2 and 3 each take node 0
    assert edges(g) == [(0, 1), (0, 2), (0, 3), (1, 0)]


def test_node_features_are_the_matrix_rows():
    g = correlation_graph(M, top_k=1)
    assert g["x"].dtype == np.float32 and g["edge_index"].dtype == np.int64
    np.testing.assert_array_equal(g["x"], M.astype(np.float32))


@pytest.mark.parametrize(
    "matrix, kwargs, message",
    [
        (np.ones((3, 4)), {"top_k": 1}, "square"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), {"top_k": 1}, "2 NaN/inf"),
        (M, {}, "exactly one"),
        (M, {"top_k": 4}, r"top_k must be in \[1, 3\]"),
    ],
)
def test_bad_inputs_are_refused_with_the_reason(matrix, kwargs, message):
    with pytest.raises(ValueError, match=message):
        correlation_graph(matrix, **kwargs)


def test_molecule_graph_matches_rdkit_atom_by_atom_and_bond_by_bond():
    from rdkit import Chem

    mol = Chem.MolFromSmiles("C/C=C/c1ccccc1[NH3+]")
    g = molecule_graph(mol)
    assert g["x"].shape == (mol.GetNumAtoms(), 7)
    assert g["edge_index"].shape == (2, 2 * mol.GetNumBonds())
    assert g["edge_attr"].shape == (2 * mol.GetNumBonds(), len(BOND_FEATURES))
    nitrogen = mol.GetAtomWithIdx(9)
    assert g["x"][9].tolist() == [7, 1, 1, HYBRIDIZATIONS.index("SP3"), 0, 3, 0]
    assert g["x"][4].tolist() == [6, 2, 0, HYBRIDIZATIONS.index("SP2"), 1, 1, 1]
    assert nitrogen.GetFormalCharge() == 1
    double = mol.GetBondWithIdx(1)
    assert g["edge_index"][:, 2].tolist() == [double.GetBeginAtomIdx(), double.GetEndAtomIdx()]
    assert g["edge_index"][:, 3].tolist() == [double.GetEndAtomIdx(), double.GetBeginAtomIdx()]
    # DOUBLE, conjugated, not in a ring, STEREOE
    assert g["edge_attr"][2].tolist() == g["edge_attr"][3].tolist() == [1, 1, 0, 3]


def test_a_single_atom_has_no_edges():
    from rdkit import Chem

    g = molecule_graph(Chem.MolFromSmiles("[Na+]"))
    assert g["x"].shape == (1, 7)
    assert g["edge_index"].shape == (2, 0) and g["edge_attr"].shape == (0, 4)


def test_symmetric_normalisation_is_the_gcn_formula():
    ei = np.array([[0, 1, 1, 2], [1, 0, 2, 1]])
    w = np.array([2.0, 2.0, -1.0, -1.0])
    deg = np.array([2.0, 3.0, 1.0])
    expected = w / np.sqrt(deg[ei[0]] * deg[ei[1]])
    np.testing.assert_allclose(normalize_edge_weights(ei, w, 3, "sym"), expected, rtol=1e-6)


def test_row_normalisation_makes_incoming_absolute_weights_sum_to_one():
    ei = np.array([[0, 1, 1, 2], [1, 0, 2, 1]])
    w = np.array([2.0, 2.0, -1.0, -1.0])
    out = normalize_edge_weights(ei, w, 4, "row")
    assert np.bincount(ei[1], weights=np.abs(out), minlength=4).tolist() == pytest.approx([1, 1, 1, 0])
    assert np.sign(out).tolist() == np.sign(w).tolist()


def test_self_loop_helpers_replace_existing_loops_with_one_per_node():
    ei = np.array([[0, 0, 1], [0, 1, 0]])
    w = np.array([5.0, 1.0, 1.0])
    assert remove_self_loops(ei, w)[0].tolist() == [[0, 1], [1, 0]]
    out_ei, out_w = add_self_loops(ei, w, 2)
    assert out_ei.tolist() == [[0, 1, 0, 1], [1, 0, 0, 1]]
    assert out_w.tolist() == [1.0, 1.0, 1.0, 1.0]
