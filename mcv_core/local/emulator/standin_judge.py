"""The local cloud's stand-in judge: how a model's local stand-in answers a judge request (mcv_core.judge's format).

No local model can read an answer and weigh it against an image, so the stand-in judge does what its own local
models can: it looks at the image with that model's stand-in (describers.Describer: its classifiers, and OCR)
and counts how many of the things they see the answer names.

- Things seen: the top ImageNet classes (the first always, then up to MAX_CLASSES in all with a probability of
  at least describers.ALTERNATIVE_MIN, the threshold from which an answer mentions a runner-up), and up to
  MAX_WORDS words read by OCR (letters only, at least MIN_WORD_LETTERS long, in reading order).
- Named: a class is named when the answer names its WordNet name, one of its synonyms, or the head noun of one
  of them (the last word of a name of several words: "Egyptian cat" -> "cat"), as whole words, plurals included
  (scoring.names_any, the rule accuracy uses); a word read is named when the answer has it.
- Score: 1 + 4 x (share of the things seen that the answer names), rounded half up: nothing named 1, a quarter
  2, half 3, three quarters 4, everything 5.
- Reason: says it is the local stand-in, with its local models, and lists what was named and what was not.

The reply is the JSON object the judge prompt asks for; usage is counted as for any answer.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import NamedTuple

from PIL import Image

from ... import scoring
from ...judge import JudgeRequest
from .. import describers

MAX_CLASSES = 3
MAX_WORDS = 3
MIN_WORD_LETTERS = 4
_LETTERS = re.compile(rf"[^\W\d_]{{{MIN_WORD_LETTERS},}}")


class Thing(NamedTuple):
    """One thing the local models see: how the reason shows it, and the names that count as naming it."""

    shown: str
    names: tuple[str, ...]


@lru_cache(maxsize=1)
def _synonyms() -> dict[str, tuple[str, ...]]:
    # A few ImageNet names are shared by two classes ("crane", "maillot"): their synonyms are pooled.
    pooled: dict[str, list[str]] = {}
    for label, synonyms in describers.imagenet_names():
        pooled.setdefault(label, []).extend(synonyms)
    return {label: tuple(dict.fromkeys(names)) for label, names in pooled.items()}


def class_names(label: str) -> tuple[str, ...]:
    """The names that count as naming an ImageNet class: its WordNet names and their head nouns."""
    names = [label, *_synonyms().get(label, ())]
    heads = [name.split()[-1] for name in names if len(name.split()) > 1]
    return tuple(dict.fromkeys(n for n in (*names, *heads) if len(n) >= 3 or n in names))


def things_seen(description: describers.Description) -> tuple[Thing, ...]:
    """What the stand-in's local models saw in the image: classes first, then words read."""
    things = [
        Thing(label, class_names(label))
        for rank, (label, probability) in enumerate(description.labels[:MAX_CLASSES])
        if rank == 0 or probability >= describers.ALTERNATIVE_MIN
    ]
    words: dict[str, str] = {}
    for line in description.ocr_lines:
        for word in _LETTERS.findall(line):
            words.setdefault(word.lower(), word)
    things.extend(Thing(f'text "{word}"', (word,)) for word in list(words.values())[:MAX_WORDS])
    return tuple(things)


def score_for(named: int, seen: int) -> int:
    """1 + 4 x named/seen, rounded half up (1..5); nothing seen is nothing to check the answer against: 1."""
    if seen <= 0:
        return 1
    return 1 + math.floor(4 * named / seen + 0.5)


def verdict(things: tuple[Thing, ...], answer: str, judge: str) -> dict[str, object]:
    """The judgment of `answer` against the things seen, as the judge prompt asks for it."""
    named = [thing for thing in things if scoring.names_any(answer, thing.names)]
    missed = [thing for thing in things if thing not in named]
    listed = "; ".join(
        part
        for part in (", ".join(t.shown for t in named), ("not: " + ", ".join(t.shown for t in missed)) if missed else "")
        if part
    )
    things_word = "thing" if len(things) == 1 else "things"
    reason = f"{judge}: the answer names {len(named)} of {len(things)} {things_word} the local models see ({listed})"
    return {"score": score_for(len(named), len(things)), "reason": reason}


def judge(local: describers.Describer, title: str, picture: Image.Image, request: JudgeRequest) -> str:
    """The stand-in's reply to a judge request: one JSON object, from what its own local models see."""
    description = local.describe(picture, request.prompt)
    models = " + ".join((*local.standin.classifiers, describers.OCR_NAME))
    return json.dumps(verdict(things_seen(description), request.answer, f"Local stand-in judge for {title} ({models})"))
