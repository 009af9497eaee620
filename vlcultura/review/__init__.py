"""Human review in Argilla (docs/review.md). Kept import-free so `vlcultura --help` stays fast.

- `vlcultura.review.push.push`: candidates -> Argilla records, resumable, never duplicated
- `vlcultura.review.pull.pull` / `review_progress`: submitted reviews -> reviewed dataset + report
- `vlcultura.review.server.LocalArgilla`: a real Argilla server on loopback (`vlcultura review serve`)
"""
