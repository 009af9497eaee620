"""Near-duplicate texts: Jaccard similarity of word-trigram shingles within a group.

NOTE FOR THE OWNER OF THIS FILE (filters): the ingest helper overwrote the uncommitted original
of this file by accident at 13:36 UTC and could not recover it. This is a reconstruction of the
API that `vlcultura.data.filters` calls (`near_duplicates(texts, groups, threshold)`), using exact
Jaccard instead of MinHash. Please replace it with your version (or keep it) and delete this note.
"""
from __future__ import annotations

import re
from collections import defaultdict

from vlcultura.cultures import fold


def shingles(text: str, size: int = 3) -> frozenset[tuple[str, ...]]:
    """Word n-grams of the folded text (short texts: the words themselves)."""
    words = re.findall(r"\w+", fold(text))
    if len(words) < size:
        return frozenset((w,) for w in words)
    return frozenset(tuple(words[i:i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_duplicates(texts: list[str], groups: list[str], threshold: float) -> dict[int, tuple[int, float]]:
    """index -> (index of the earlier kept text it repeats, similarity), compared within a group."""
    kept: dict[str, list[tuple[int, frozenset]]] = defaultdict(list)
    found: dict[int, tuple[int, float]] = {}
    for index, (text, group) in enumerate(zip(texts, groups)):
        mine = shingles(text)
        best = max(((jaccard(mine, other), first) for first, other in kept[group]), default=None)
        if best is not None and best[0] >= threshold:
            found[index] = (best[1], best[0])
        else:
            kept[group].append((index, mine))
    return found
