"""The human-readable ingest report: what came in, what was kept, what was refused and why."""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import jinja2

from vlcultura.config import IngestConfig

if TYPE_CHECKING:
    from vlcultura.data.ingest import IngestResult

# What each reason code means, in one line; the per-image detail says what to do about it.
REASONS: dict[str, str] = {
    "empty": "the file has 0 bytes",
    "file_too_large": "the source file is over max_file_bytes",
    "missing_file": "a manifest row names a file that is not there",
    "bad_metadata": "unusable metadata: unknown country or variety, no file column, bad JSON",
    "unreadable": "not an image format Pillow can read",
    "truncated": "the image data ends early",
    "corrupt": "the image data is damaged",
    "decompression_bomb": "declared size over max_pixels",
    "animated": "more than one frame (policy: ingest.animated)",
    "oversize_encoded": "still over max_encoded_bytes after re-encoding",
    "duplicate": "an exact copy of a kept image (same bytes or same pixels)",
    "near_duplicate": "a near copy of a kept image (perceptual hash)",
    "io_error": "the file could not be read",
    "metadata_leak": "the encoder wrote a metadata block (never expected)",
    "processing_error": "an unexpected error (please report)",
}

# Normalisation notes worth a line in the report, in words.
CHANGES: dict[str, str] = {
    "gps": "GPS location removed", "exif": "EXIF block removed", "xmp": "XMP block removed",
    "iptc": "IPTC/Photoshop block removed", "comment": "comment removed",
    "icc": "ICC profile removed", "icc->sRGB": "colours converted to sRGB from the ICC profile",
    "icc_unusable": "ICC profile unusable (pixels kept as they were)",
    "orientation": "EXIF orientation applied to the pixels", "resized": "downscaled to max_side",
    "first_frame": "animation: first frame kept", "extension_mismatch": "extension did not match the bytes",
}

_ENV = jinja2.Environment(autoescape=False, keep_trailing_newline=True)
_ENV.filters["cell"] = lambda text: str(text).replace("|", "\\|").replace("\n", " ")
_TEMPLATE = _ENV.from_string("""\
# Ingest report

Source: `{{ result.source }}`

**{{ result.records | length }} images kept, {{ result.rejections | length }} rejected.**
Limits: max_side {{ config.max_side }}, max_pixels {{ "{:,}".format(config.max_pixels) }},
max_encoded_bytes {{ "{:,}".format(config.max_encoded_bytes) }}, animated: {{ config.animated }},
near_duplicate_distance: {{ config.near_duplicate_distance }}.
Stored as JPEG (quality {{ config.jpeg_quality }}) or PNG (transparency, 256 colours or fewer),
re-encoded from pixels: no EXIF, GPS, XMP, IPTC or ICC metadata is kept.

## Rejections by reason
{% if reasons %}
| reason | count | meaning |
|---|---:|---|
{% for reason, count in reasons %}| `{{ reason }}` | {{ count }} | {{ meanings.get(reason, "") }} |
{% endfor %}{% else %}
None.
{% endif %}
## Duplicate groups
{% if groups %}
{% for kept, copies in groups %}- kept `{{ kept }}` ({{ kept_names[kept] }}): {% for c in copies %}{{ c.source }} ({{ c.reason }}){% if not loop.last %}, {% endif %}{% endfor %}
{% endfor %}{% else %}
None.
{% endif %}
## What normalisation changed
{% if changes %}
| change | images |
|---|---:|
{% for text, count in changes %}| {{ text }} | {{ count }} |
{% endfor %}{% else %}
Nothing.
{% endif %}
## Kept images
| country | variety | topic | images |
|---|---|---|---:|
{% for (country, variety, topic), count in coverage %}| {{ country or "-" }} | {{ variety or "-" }} | {{ topic or "-" }} | {{ count }} |
{% endfor %}
## Every rejection
{% if result.rejections %}
| source | reason | detail |
|---|---|---|
{% for r in result.rejections %}| {{ r.source | cell }} | `{{ r.reason }}` | {{ r.detail | cell }} |
{% endfor %}{% else %}
None.
{% endif %}""")


def render_report(result: "IngestResult", config: IngestConfig) -> str:
    """Markdown for DIR/ingest_report.md."""
    modes = {n: f"colour mode converted ({n[5:]})" for n in result.notes if n.startswith("mode:")}
    described = {**CHANGES, **modes}
    changes = [(described[n], c) for n, c in result.notes.most_common() if n in described]
    coverage = Counter((r.country, r.variety, r.topic) for r in result.records)
    kept_names = {r.id: r.source for r in result.records}
    return _TEMPLATE.render(
        result=result, config=config, meanings=REASONS,
        reasons=Counter(r.reason for r in result.rejections).most_common(),
        groups=sorted(result.duplicate_groups.items()), kept_names=kept_names,
        changes=changes, coverage=sorted(coverage.items(), key=lambda kv: (-kv[1], str(kv[0]))))
