"""Near-duplicate texts by MinHash LSH (datasketch), verified with the exact Jaccard.

Many near-identical descriptions teach the model one sentence by heart and inflate the counts a
Dataset Card reports. LSH finds candidate pairs in near-linear time; the exact Jaccard of the
shingle sets then decides, so the result does not depend on hash luck.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from datasketch import MinHash, MinHashLSH

from vlcultura.cultures import fold

_WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 3) -> set[str]:
    """Word n-grams of the folded text (character 5-grams when it has fewer than n words)."""
    words = _WORD.findall(fold(text))
    if len(words) < n:
        joined = " ".join(words)
        return {joined[i:i + 5] for i in range(max(1, len(joined) - 4))}
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_duplicates(texts: Sequence[str], groups: Sequence[str] | None = None,
                    threshold: float = 0.85, num_perm: int = 128) -> dict[int, tuple[int, float]]:
    """Map each later near-duplicate index to (the earlier index it repeats, Jaccard).

    Only texts of the same group (e.g. the same image and label) are compared; the first
    occurrence is kept, so the result is stable under the dataset's order. LSH recall is
    probabilistic near the threshold (a pair just above it may be missed, never a false drop).
    """
    groups = groups if groups is not None else ["" for _ in texts]
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sets: list[set[str]] = []
    found: dict[int, tuple[int, float]] = {}
    for i, text in enumerate(texts):
        sh = shingles(text)
        sets.append(sh)
        mh = MinHash(num_perm=num_perm, seed=1)
        mh.update_batch([s.encode("utf-8") for s in sh])
        best: tuple[int, float] | None = None
        for key in lsh.query(mh):
            j = int(key)
            if groups[j] != groups[i]:
                continue
            score = jaccard(sh, sets[j])
            if score >= threshold and (best is None or (score, -j) > (best[1], -best[0])):
                best = (j, score)
        if best is not None:
            found[i] = best
        else:
            lsh.insert(str(i), mh)
    return found
