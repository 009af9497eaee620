"""The data stages: photos in, a culturally grounded KTO dataset out (docs/ingest.md, generate.md).

- ingest: validate, normalise and strip EXIF/GPS from photos, attach country / variety / topic /
  label metadata; `vlcultura.data.ingest.ingest(source, out_dir, config)`, read back with
  `load_images`. `make_sample_images` draws the offline sample photos.
- generate: desirable and typed undesirable descriptions per image (cohere, template, local),
  every paid call through the `Ledger` (paid once, resumable, budgeted);
  `vlcultura.data.generate.generate(input_path, output_dir, config)`.
- filter and judge: `filter_dataset` (rule filters, near duplicates) and `judge_dataset`
  (rubric scores, keep/drop with reasons); `cohere_verdicts` is the paid rubric call that the
  evaluation's judge shares.
- arena and export: `convert_arena` (Arena v0 preference data) and `export_dataset` (the split,
  weighted `*_images_kto` dataset with its Dataset Card).

Names load on first use, so `vlcultura --help` stays fast.
"""
from vlcultura.lazy import lazy_exports

__all__ = ["load_images", "make_sample_images", "Ledger", "filter_dataset", "judge_dataset", "cohere_verdicts",
           "convert_arena", "export_dataset"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "load_images": "ingest", "make_sample_images": "samples", "Ledger": "ledger", "filter_dataset": "filters",
    "judge_dataset": "judge", "cohere_verdicts": "judge", "convert_arena": "arena", "export_dataset": "export"})
