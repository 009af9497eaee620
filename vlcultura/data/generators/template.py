"""The offline backend: deterministic descriptions rendered from the image's metadata.

It is the embedded default when no Cohere key is set (the stage says so), so the whole pipeline
runs offline. Its rows are recorded in the ledger at zero cost, so every row has a ledger key.
"""
from __future__ import annotations

from vlcultura.data.generators.base import Generated, Generator, ImageItem, ItemError
from vlcultura.data.ledger import Ledger, request_key
from vlcultura.data.prompts import context, render


class TemplateGenerator(Generator):
    """Descriptions from per-variety templates (`templates`, `topic_phrases`, `details`)."""

    name = "template"
    model = None

    def __init__(self, ledger: Ledger, seed: int) -> None:
        self.ledger = ledger
        self.seed = seed

    async def describe(self, item: ImageItem, n: int) -> Generated:
        ps, rec = item.prompts, item.record
        ctx = context(rec, ps.tag)
        if not rec.labels and not rec.topic:
            raise ItemError("no_metadata", "the template backend needs a label or a topic for this "
                            "image; add them to the manifest or use the cohere/local backend")
        phrases = ps.data["topic_phrases"]
        topic_phrase = phrases.get(rec.topic or "otro", phrases["otro"])
        label = ctx["label"] or topic_phrase
        templates = ps.texts("templates")
        texts: dict[str, str] = {}
        for i in range(n):
            seed = f"{self.seed}:{rec.sha256}:{i}"
            template = templates[(int(rec.sha256[:8], 16) + i) % len(templates)]
            texts[str(i)] = render(template, **{**ctx, "label": label}, topic_phrase=topic_phrase,
                                   detail=ps.pick("details", seed))
        key = request_key(backend=self.name, model=None, prompt_version=item.prompt_version,
                          image_sha256=rec.sha256, strategy=f"describe:{n}", seed=self.seed)
        self.ledger.record_free(key, stage="generate", backend=self.name, model=None, response=texts)
        return Generated(texts, key, None)
