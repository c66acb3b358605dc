"""Generators of small raw corpora in the real raw layouts of each dataset family.

Tests and `climb demo` write these into temporary folders and convert them; nothing is downloaded.
Each module writes one family's layouts and returns what a correct conversion must find.
"""
