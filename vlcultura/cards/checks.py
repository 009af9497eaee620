"""Card validation shared by the Dataset and Model Cards: parse with huggingface_hub's card
class, then list what the challenge requires and the card lacks."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vlcultura.cards.dataset_card import CardError


def check_card(text: str, card_cls: type, *, required: Sequence[str], sections: Sequence[str],
               repo_type: str, extra: Callable[[dict[str, Any]], list[str]] | None = None,
               remote: bool = False) -> Any:
    """Parse `text` as `card_cls` (ModelCard/DatasetCard) and raise `CardError` with every problem.

    `remote=True` also runs the Hub's own validator (needs the network).
    """
    try:
        card = card_cls(text)
    except ValueError as err:
        raise CardError(f"the card's YAML header does not parse: {err}") from err
    meta = card.data.to_dict()
    problems = [f"YAML lacks '{k}'" for k in required if not meta.get(k)]
    problems += extra(meta) if extra else []
    problems += [f"body lacks the section '{s}'" for s in sections if s not in card.text]
    if problems:
        raise CardError(f"invalid {card_cls.__name__}: " + "; ".join(problems))
    if remote:
        card.validate(repo_type=repo_type)
    return card
