"""Clinical note cleaning: strip de-identification placeholders and residual identifiers.

Notes are stored as raw text (``text.txt``), tokenizer-free, so any model can tokenize them its own
way. Before that they pass through `clean_note`, which removes

- de-identification placeholders: MIMIC's ``___`` and the older ``[** ... **]`` brackets;
- identifiers that de-identification missed or that a local extract still carries: dates, phone
  numbers, e-mail addresses, social security numbers, medical record numbers, street addresses,
  ZIP codes, titled names (``Dr. Smith``) and labelled header fields (``Name:``, ``DOB:``,
  ``MRN:``, ``Phone:``, ``Address:`` and their values);
- every identifier the caller knows about (the patient's names, MRN, phone, address from the
  tables), matched case-insensitively, with digits matched across any separators.

Patterns err on the side of removing too much: a lost number in a note costs less than a leaked
identifier. Removal (not replacement) is deliberate: the output carries no placeholder tokens at all.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from typing import Iterable

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_STREET = r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Circle|Highway|Hwy)"
_FIELD_LABELS = (
    r"(?:patient\s+name|name|date\s+of\s+birth|dob|birth\s*date|mrn|medical\s+record\s+(?:number|no\.?)|unit\s+no\.?"
    r"|phone|telephone|tel|cell|address|ssn|social\s+security(?:\s+number)?)"
)

PLACEHOLDERS = re.compile(r"\[\*\*.*?\*\*\]|_{3,}", re.S)

# Applied in this order: labelled fields first, so "DOB: 03/14/1957" goes as a whole.
IDENTIFIER_PATTERNS: dict[str, re.Pattern[str]] = {
    "field": re.compile(rf"(?im)\b{_FIELD_LABELS}[ \t]*[:#][ \t]*[^\n;]*?(?=\s{{2,}}|[;\n]|(?-i:(?<![A-Z]))\.(?:\s|$)|$)"),
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "datetime": re.compile(
        r"\b\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\b"
        r"|\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b"
        rf"|\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"
        rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}\.?,?\s+\d{{4}}\b"
        rf"|\b{_MONTH}\.?\s+\d{{4}}\b",
        re.I,
    ),
    "ssn": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    "phone": re.compile(r"(?<!\w)(?:\+?1[-.\s]?)?(?:\(\d{3}\)\s?|\d{3}[-.\s])\d{3}[-.\s]\d{4}(?!\w)"),
    "mrn": re.compile(r"(?i)\b(?:mrn|record\s*(?:no\.?|number|#))\s*[:#]?\s*[a-z0-9-]*\d[\w-]*"),
    "address": re.compile(rf"\b\d{{1,6}}\s+(?:[A-Z][a-z]+\s+){{1,3}}{_STREET}\b\.?"),
    "zip": re.compile(r"\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"),
    "long_number": re.compile(r"\b\d{6,}\b"),
    "titled_name": re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Doctor|Prof)\.?\s+[A-Z][a-zA-Z'-]+(?:\s+[A-Z][a-zA-Z'-]+)?"),
}

_DIGIT_SEPARATORS = r"[\s().\-/]*"


def known_terms(values: Iterable[str | None], min_length: int = 3) -> list[str]:
    """The strings to scrub for a set of known identifiers: each whole value, plus each word of it
    with at least `min_length` letters (a note may say "Mr. Smith" where the table says
    "John Smith"). Empty values are skipped; the result is sorted for determinism."""
    terms: set[str] = set()
    for value in values:
        text = "" if value is None else str(value).strip()
        if not text:
            continue
        terms.add(text)
        terms.update(w for w in re.findall(r"[^\W\d_]+(?:['-][^\W\d_]+)*", text) if len(w) >= min_length)
    return sorted(terms)


def _term_pattern(term: str) -> str:
    digits = re.sub(r"\D", "", term)
    if len(digits) >= 5 and len(digits) >= len(re.sub(r"[\s().\-/]", "", term)) - 1:
        # a number (MRN, phone, date of birth): match its digits whatever separates or opens them
        body = r"[(+]?" + _DIGIT_SEPARATORS.join(digits)
    else:
        body = r"\s+".join(re.escape(part) for part in term.split())
    left = r"(?<!\w)" if term[:1].isalnum() or body.startswith("[(+]") else ""
    right = r"(?!\w)" if term[-1:].isalnum() else ""
    return left + body + right


def remove_known(text: str, terms: Iterable[str]) -> str:
    """Remove every occurrence of the known identifiers, longest first, case-insensitively."""
    ordered = sorted({t for t in terms if t.strip()}, key=lambda t: (-len(t), t))
    if not ordered:
        return text
    return re.sub("|".join(_term_pattern(t) for t in ordered), " ", text, flags=re.I)


def normalize_whitespace(text: str) -> str:
    """Single spaces inside lines, no trailing spaces, at most one blank line in a row, no
    leading/trailing blank lines; Windows and old-Mac line ends become \\n."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[^\S\n]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def clean_note(text: str, known: Iterable[str] = ()) -> str:
    """A note with placeholders, known identifiers and identifier-shaped strings removed, and its
    whitespace normalised.

    Args:
        text: the raw note.
        known: identifiers of this patient to remove wherever they occur (see `known_terms`).
    """
    text = remove_known(text, known)
    text = IDENTIFIER_PATTERNS["field"].sub(" ", text)  # before placeholders: "Name:  ___   Sex: F"
    text = PLACEHOLDERS.sub(" ", text)
    for pattern in IDENTIFIER_PATTERNS.values():
        text = pattern.sub(" ", text)
    return normalize_whitespace(text)
