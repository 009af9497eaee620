"""Human review in Argilla (docs/review.md): reviewers confirm or flip labels and correct text.

- `vlcultura.review.push.push(rows, config, journal)`: candidates -> Argilla records, resumable,
  never duplicated; a vanished server is waited for, then named in the error.
- `vlcultura.review.pull.pull(...)` / `review_progress(config)`: submitted reviews -> reviewed
  dataset (corrections become new desirable rows) + report.
- `agreement`: inter-reviewer agreement (Cohen's / Fleiss' kappa).
- `LocalArgilla`: a real Argilla server on loopback (`vlcultura review serve`).

Names load on first use, so `vlcultura --help` stays fast (`push` and `pull` are reached through
their modules: those names are the modules' own).
"""
from vlcultura.lazy import lazy_exports

__all__ = ["review_progress", "agreement", "LocalArgilla"]
__getattr__, __dir__ = lazy_exports(__name__, {"review_progress": "pull", "agreement": "policy",
                                               "LocalArgilla": "server"})
