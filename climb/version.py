"""Versions that end up in every manifest, so a dataset names the code and schema that built it."""

CODE_VERSION = "0.1.0"
