"""METEOR 1.5 through the jar that the installed pycocoevalcap ships (never copied).

`en` is COCO METEOR (`-l en -norm`, with the English paraphrase table): the number papers
report. For Spanish and Portuguese the jar has no paraphrase table, so we run exact+stem
matching only (`-m "exact stem"`), on text our `es`/`pt` tokenizer already lowercased and split
(`-l pt` has no normaliser). Those are different metrics, named `METEOR-es (exact+stem)` /
`METEOR-pt (exact+stem)` everywhere so nobody compares them with COCO METEOR.
"""
from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vlcultura.eval.metrics.base import MetricResult, mean_metric
from vlcultura.eval.metrics.tokenizers import TokenizerUnavailable, java_available, ptb_jar

Tokens = Sequence[str]


def meteor_jar() -> Path:
    """meteor-1.5.jar next to pycocoevalcap's tokenizer jar."""
    jar = ptb_jar().parent.parent / "meteor" / "meteor-1.5.jar"
    if not jar.is_file():
        raise TokenizerUnavailable(f"METEOR jar not found at {jar}: reinstall pycocoevalcap>=1.2")
    return jar


def meteor_name(language: str) -> str:
    """The label a METEOR score carries in tables."""
    return "METEOR" if language == "en" else f"METEOR-{language} (exact+stem)"


def _command(jar: Path, language: str) -> list[str]:
    base = ["java", "-Xmx2G", "-jar", str(jar), "-", "-", "-stdio", "-l", language]
    if language == "en":
        return [*base, "-norm"]
    if language == "es":
        return [*base, "-m", "exact stem", "-norm"]
    if language == "pt":
        return [*base, "-m", "exact stem"]
    raise ValueError(f"METEOR here supports en, es and pt, not {language!r}")


def meteor(hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]], language: str = "en") -> MetricResult:
    """Corpus METEOR from the jar; per-image scores for resampling and win rates."""
    if not java_available():
        raise TokenizerUnavailable("METEOR needs a Java runtime (apt-get install default-jre-headless)")
    jar = meteor_jar()
    proc = subprocess.Popen(_command(jar, language), cwd=jar.parent, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    lines = ["SCORE ||| " + " ||| ".join([*(_clean(r) for r in image_refs), _clean(hyp)]) + "\n"
             for hyp, image_refs in zip(hyps, refs, strict=True)]
    # Pipelined: a writer thread feeds every SCORE line while we read the answers, instead of
    # one round trip per image (the jar answers in order; neither pipe can fill up and block).
    writer = threading.Thread(target=_write_all, args=(proc.stdin, lines), daemon=True)
    try:
        writer.start()
        stats = [proc.stdout.readline().decode("utf-8").strip() for _ in lines]
        writer.join()
        proc.stdin.write(("EVAL ||| " + " ||| ".join(stats) + "\n").encode("utf-8"))
        proc.stdin.flush()
        per = [float(proc.stdout.readline()) for _ in stats]
        corpus = float(proc.stdout.readline())
    except ValueError as err:
        raise TokenizerUnavailable(f"METEOR jar gave an unreadable answer: {err}") from err
    finally:
        proc.stdin.close()
        proc.kill()
        proc.wait()
    result = mean_metric(meteor_name(language), np.array(per), "METEOR 1.5 jar; CI from per-image scores, shifted onto the corpus value")
    result.corpus_value = corpus
    return result


def _write_all(stream: Any, lines: list[str]) -> None:
    for line in lines:
        stream.write(line.encode("utf-8"))
    stream.flush()


def _clean(tokens: Tokens) -> str:
    return " ".join(tokens).replace("|||", "").replace("  ", " ")
