"""Exact and near-duplicate images: the first in source order is kept, the others are reported.

Duplicates matter twice: they waste paid generation calls, and a near-copy on both sides of a
train/test split leaks the test set. Exact: the same source bytes, or the same pixels after
normalisation (a copy that differs only in metadata). Near: a 64-bit perceptual hash (pHash)
within `near_duplicate_distance` bits (a resized or re-compressed copy).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Fingerprint:
    """What dedup needs to know about one decoded image."""

    key: str  # the image id (from the source bytes)
    sha256: str  # of the normalised bytes
    phash: str  # 16 hex digits


@dataclass
class Verdict:
    """`kept_by` is None for a kept image, else the id it duplicates."""

    kept_by: str | None = None
    kind: str | None = None  # "duplicate" or "near_duplicate"
    distance: int | None = None


@dataclass
class DuplicateIndex:
    """Incremental index over kept images; `check` keeps or rejects one image at a time."""

    max_distance: int | None
    _by_key: dict[str, str] = field(default_factory=dict)
    _by_sha: dict[str, str] = field(default_factory=dict)
    _keys: list[str] = field(default_factory=list)
    _hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    def check(self, image: Fingerprint) -> Verdict:
        exact = self._by_key.get(image.key) or self._by_sha.get(image.sha256)
        if exact is not None:
            return Verdict(kept_by=exact, kind="duplicate", distance=0)
        value = np.uint64(int(image.phash, 16))
        if self.max_distance is not None and len(self._keys):
            distances = np.bitwise_count(self._hashes[:len(self._keys)] ^ value)
            nearest = int(np.argmin(distances))
            if int(distances[nearest]) <= self.max_distance:
                return Verdict(kept_by=self._keys[nearest], kind="near_duplicate",
                               distance=int(distances[nearest]))
        self._add(image, value)
        return Verdict()

    def _add(self, image: Fingerprint, value: np.uint64) -> None:
        self._by_key[image.key] = image.key
        self._by_sha[image.sha256] = image.key
        if len(self._keys) == len(self._hashes):  # grow geometrically: append is O(1) amortised
            self._hashes = np.concatenate([self._hashes, np.zeros(max(16, len(self._hashes)), np.uint64)])
        self._hashes[len(self._keys)] = value
        self._keys.append(image.key)
