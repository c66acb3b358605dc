"""Fixtures for graph sources: real-layout corpora written once per module."""

import pytest

from climb.corpora.graphs import write_connectome_corpus, write_molecule_corpus, write_ppa_corpus, write_proteins_corpus


@pytest.fixture(scope="module")
def connectome_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("abide")
    return root, write_connectome_corpus(root)


@pytest.fixture(scope="module")
def molecule_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("molecules")
    return root, write_molecule_corpus(root)


@pytest.fixture(scope="module")
def proteins_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("proteins")
    return root, write_proteins_corpus(root)


@pytest.fixture(scope="module")
def ppa_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ppa")
    return root, write_ppa_corpus(root)
