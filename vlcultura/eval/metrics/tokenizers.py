"""Caption tokenizers: `coco` for exact pycocoevalcap parity, `es` / `pt` for Iberian languages.

Every tokenizer first normalises to NFC: an NFD caption is visually identical to its NFC
reference but scores BLEU-4 ~5e-5 against it (../docs/evaluation.md). On ASCII text NFC is a
no-op, so `coco` still reproduces pycocoevalcap exactly.

`coco` runs the Stanford PTB tokenizer jar that the installed `pycocoevalcap` package ships
(`pip install vlcultura[coco]` and a Java runtime); it keeps its known quirks on purpose:
`¿`/`¡` survive as tokens and parentheses leak as `-lrb-`/`-rrb-`. `es` and `pt` are pure
Python: lowercase, drop the Spanish/Portuguese punctuation set (¿¡«»“”—() ...) and keep
hyphenated compounds (`pão-de-queijo`) and elisions (`d'água`) as one token.
"""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Callable, Sequence

Tokenizer = Callable[[Sequence[str]], list[list[str]]]

# pycocoevalcap's post-filter on PTB tokens (documented in ../docs/evaluation.md).
PTB_DROPPED = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                         ".", "?", "!", ",", ":", "-", "--", "...", ";"])
_LINE_BREAKS = re.compile(r"[\n\r\x0b\x0c\x85\u2028\u2029]")
# A word: letters/digits, optionally joined by intra-word hyphens or apostrophes; numbers keep
# their decimal separators. Everything else (the punctuation set) separates and is dropped.
_WORD = re.compile(r"\d+(?:[.,]\d+)+|\w+(?:[-'’]\w+)*")


class TokenizerUnavailable(RuntimeError):
    """The `coco` tokenizer needs Java and the pycocoevalcap jar; says how to get them."""


def nfc(text: str) -> str:
    """Canonical composition: the first step of every metric."""
    return unicodedata.normalize("NFC", text)


def iberian_tokenize(texts: Sequence[str]) -> list[list[str]]:
    """The `es` / `pt` tokenizer: NFC, lowercase, words kept whole, punctuation dropped."""
    return [[m.group(0).replace("’", "'") for m in _WORD.finditer(nfc(t).lower())] for t in texts]


def ptb_jar() -> Path:
    """The Stanford CoreNLP 3.4.1 jar inside the installed pycocoevalcap (never copied)."""
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerUnavailable("the `coco` tokenizer needs pycocoevalcap: "
                                   "pip install 'vlcultura[coco]', or use --tokenizer es|pt")
    jar = Path(next(iter(spec.submodule_search_locations))) / "tokenizer" / "stanford-corenlp-3.4.1.jar"
    if not jar.is_file():
        raise TokenizerUnavailable(f"PTB tokenizer jar not found at {jar}: reinstall pycocoevalcap>=1.2")
    return jar


def java_available() -> bool:
    """True when a `java` executable is on PATH."""
    return shutil.which("java") is not None


def coco_tokenize(texts: Sequence[str]) -> list[list[str]]:
    """PTB tokenization as pycocoevalcap does it: one Java run for the whole batch."""
    if not texts:
        return []
    if not java_available():
        raise TokenizerUnavailable("the `coco` tokenizer needs a Java runtime (apt-get install "
                                   "default-jre-headless), or use --tokenizer es|pt")
    lines = "\n".join(_LINE_BREAKS.sub(" ", nfc(t)) for t in texts)
    proc = subprocess.run(
        ["java", "-cp", str(ptb_jar()), "edu.stanford.nlp.process.PTBTokenizer",
         "-preserveLines", "-lowerCase", "-encoding", "utf-8"],
        input=lines.encode("utf-8"), capture_output=True, check=False)
    if proc.returncode != 0:
        raise TokenizerUnavailable(f"PTB tokenizer failed (exit {proc.returncode}): "
                                   f"{proc.stderr.decode(errors='replace')[-500:]}")
    out = proc.stdout.decode("utf-8").split("\n")[: len(texts)]
    if len(out) != len(texts):
        raise TokenizerUnavailable(f"PTB tokenizer returned {len(out)} lines for {len(texts)} captions")
    return [[w for w in line.rstrip().split(" ") if w and w not in PTB_DROPPED] for line in out]


TOKENIZERS: dict[str, Tokenizer] = {"coco": coco_tokenize, "es": iberian_tokenize, "pt": iberian_tokenize}


def get_tokenizer(name: str) -> Tokenizer:
    """A tokenizer by name; unknown names list the choices."""
    try:
        return TOKENIZERS[name]
    except KeyError:
        raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}") from None


def resolve_tokenizer(name: str, language: str | None) -> str:
    """`auto`: the language's own tokenizer for es/pt, `coco` otherwise."""
    if name != "auto":
        return name
    return language if language in ("es", "pt") else "coco"
