"""CodeCarbon emissions tracking, offline, with the location set by the user.

`report_to="codecarbon"` builds an ONLINE tracker, which offline cannot find its location and
silently assumes Canada/Quebec, one of the cleanest grids in the world: emissions are then
under-reported. We run `OfflineEmissionsTracker` from a callback on the main process with the
country/region from the config, and when they are unset we say so loudly and use the world
average carbon intensity instead of a flattering guess. CodeCarbon writes kg to emissions.csv;
the Hub's `co2_eq_emissions` field is in grams.
"""
from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from vlcultura.config import EmissionsConfig

log = logging.getLogger(__name__)

EMISSIONS_CSV = "emissions.csv"
EMISSIONS_JSON = "emissions.json"
# Ember, Global Electricity Review 2024: world average 2023 = 480 gCO2/kWh.
WORLD_AVERAGE_G_PER_KWH = 480.0
_PLACEHOLDER_COUNTRY = "USA"  # CodeCarbon's offline tracker needs one; its intensity is overridden


def tracker_kwargs(config: EmissionsConfig, output_dir: str | Path) -> tuple[dict[str, Any], bool]:
    """Arguments for `OfflineEmissionsTracker`, and whether the location was assumed."""
    kwargs: dict[str, Any] = dict(output_dir=str(output_dir), output_file=EMISSIONS_CSV,
                                  save_to_file=True, log_level="error", allow_multiple_runs=True,
                                  measure_power_secs=config.measure_power_secs,
                                  project_name="vlcultura-train")
    if config.cloud_provider and config.cloud_region:
        kwargs.update(cloud_provider=config.cloud_provider, cloud_region=config.cloud_region)
    if config.country_iso_code:
        kwargs["country_iso_code"] = config.country_iso_code.upper()
        if config.region:
            kwargs["region"] = config.region
        return kwargs, False
    if "cloud_provider" in kwargs:
        kwargs["country_iso_code"] = _PLACEHOLDER_COUNTRY  # required, unused with a cloud region
        return kwargs, False
    log.warning(
        "!!! emissions.country_iso_code is not set: CodeCarbon cannot know this machine's grid. "
        "Using the WORLD AVERAGE carbon intensity (%.0f g CO2eq/kWh) instead of CodeCarbon's "
        "silent online default (Quebec, ~30x cleaner). Set emissions.country_iso_code (ISO 3166-1 "
        "alpha-3, e.g. ESP, MEX, BOL) and emissions.region, or cloud_provider + cloud_region. !!!",
        WORLD_AVERAGE_G_PER_KWH)
    kwargs.update(country_iso_code=_PLACEHOLDER_COUNTRY,
                  force_carbon_intensity_g_co2e_kwh=WORLD_AVERAGE_G_PER_KWH)
    return kwargs, True


def location_label(config: EmissionsConfig, assumed: bool) -> str:
    if assumed:
        return f"unknown (world average {WORLD_AVERAGE_G_PER_KWH:.0f} g CO2eq/kWh assumed)"
    if config.cloud_provider and config.cloud_region:
        return f"{config.cloud_provider} {config.cloud_region}"
    return ", ".join(x for x in (config.country_iso_code, config.region) if x)


class EmissionsCallback(TrainerCallback):
    """Tracks the whole run (resumed runs append a row) on the main process only: CodeCarbon
    measures the machine, so one tracker per process would count it several times."""

    def __init__(self, config: EmissionsConfig, output_dir: str | Path):
        self.config, self.output_dir = config, Path(output_dir)
        self.tracker: Any = None
        self.assumed = False

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from codecarbon import OfflineEmissionsTracker

        self.output_dir.mkdir(parents=True, exist_ok=True)
        tracker_args, self.assumed = tracker_kwargs(self.config, self.output_dir)
        self.tracker = OfflineEmissionsTracker(**tracker_args)
        self.tracker.start()

    def on_train_end(self, args, state, control, **kwargs):
        if self.tracker is None:
            return
        self.tracker.stop()
        self.tracker = None
        summary = summarize(self.output_dir)
        summary["location"] = location_label(self.config, self.assumed)
        summary["location_assumed"] = self.assumed
        (self.output_dir / EMISSIONS_JSON).write_text(json.dumps(summary, indent=2), encoding="utf-8")


def summarize(output_dir: str | Path) -> dict[str, Any]:
    """Totals over every row of emissions.csv (one per run or resume), in grams and kWh."""
    path = Path(output_dir) / EMISSIONS_CSV
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    kg = sum(float(r["emissions"]) for r in rows)
    return {"emissions_g": round(kg * 1000, 4), "energy_kwh": round(sum(float(r["energy_consumed"]) for r in rows), 6),
            "duration_s": round(sum(float(r["duration"]) for r in rows), 2), "runs": len(rows),
            "hardware": {k: rows[-1].get(k) for k in ("cpu_model", "gpu_model", "gpu_count", "ram_total_size")},
            "source": "CodeCarbon OfflineEmissionsTracker", "csv": EMISSIONS_CSV}


def read_summary(output_dir: str | Path) -> dict[str, Any] | None:
    path = Path(output_dir) / EMISSIONS_JSON
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
