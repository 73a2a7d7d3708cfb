"""Scoring an answer against the labels an image is known to show (labelled benchmark sets).

An answer is correct when it names any expected label: a whole-word, case-insensitive match in the answer
text, plurals included ("coin" matches "coins", "cat" does not match "category"). The same rule for every
provider: the classifier's answer is its top three labels, the language models' answer is their text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable


@lru_cache(maxsize=512)
def _pattern(label: str) -> re.Pattern[str]:
    words = r"[\s\-]+".join(re.escape(word) for word in label.lower().split())
    return re.compile(rf"(?<![\w]){words}(?:s|es)?(?![\w])")


def names_any(answer: str, expected: Iterable[str]) -> bool:
    text = answer.lower()
    return any(_pattern(label.strip()).search(text) for label in expected if label.strip())


def first_named(answer: str, expected: Iterable[object]) -> str | None:
    """The expected label an answer names first (earliest in the text; of labels named at the same place, the
    first listed), by the same whole-word rule as `names_any`; None when it names none."""
    text = answer.lower()
    found = []
    for rank, value in enumerate(expected):
        label = str(value).strip()
        match = _pattern(label).search(text) if label else None
        if match is not None:
            found.append((match.start(), rank, label))
    return min(found)[2] if found else None


def score(output: str, expected: Iterable[str], ok: bool = True) -> bool | None:
    """True or False for an answer on a labelled image; None when there is nothing to score against.
    A failed call is scored as not correct: the user got no right answer."""
    labels = [label for label in expected if label.strip()]
    if not labels:
        return None
    return ok and names_any(output, labels)
