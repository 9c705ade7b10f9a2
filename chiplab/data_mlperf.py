"""Published MLPerf Inference results, as a table chiplab's estimates can be set against.

The numbers live in ``data/mlperf/published.csv`` (one row per published result, each
with the MLCommons results-repository file it was read from); ``docs/mlperf_data.md``
says what is in it and what is missing. This module only loads and checks that table:
it does no modelling.

    >>> from chiplab.data_mlperf import load_published
    >>> df = load_published()
    >>> df[(df.accelerator == "t4") & (df.scenario == "Offline")]
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from chiplab.errors import ChiplabError

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "mlperf" / "published.csv"

SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")
MODELS = ("resnet50", "bert-99", "bert-99.9", "gptj-99", "gptj-99.9")
# Throughput metrics are divided by accelerator_count for per_accelerator_value.
THROUGHPUT_METRICS = ("samples/s", "queries/s")
# "streams": the v0.5/v1.x MultiStream metric (samples per query held under the latency bound).
METRICS = THROUGHPUT_METRICS + ("latency ms", "streams")

REQUIRED = ("round", "submitter", "system", "accelerator", "accelerator_count", "model",
            "scenario", "metric", "value", "per_accelerator_value", "precision", "batch",
            "result_id", "source", "notes")
_TEXT = ("round", "submitter", "division", "category", "suite", "system", "accelerator",
         "model", "scenario", "metric", "precision", "result_id", "source", "notes")
_REL_TOL = 1e-3  # per_accelerator_value is stored rounded to 4 decimals


class MlperfDataError(ChiplabError):
    """A row of the published-MLPerf table is malformed (the message names the file and row)."""


def _where(path: Path, i: int, row: pd.Series) -> str:
    # i is the 0-based data row; +2 gives the line in the CSV (header is line 1)
    return (f"{path.name} line {i + 2} ({row.get('round', '?')} {row.get('system', '?')} "
            f"{row.get('model', '?')} {row.get('scenario', '?')})")


def _check_row(path: Path, i: int, row: pd.Series) -> None:
    at = _where(path, i, row)
    if row["scenario"] not in SCENARIOS:
        raise MlperfDataError(f"{at}: unknown scenario {row['scenario']!r}; expected one of {', '.join(SCENARIOS)}")
    if row["model"] not in MODELS:
        raise MlperfDataError(f"{at}: unknown model {row['model']!r}; expected one of {', '.join(MODELS)}")
    if row["metric"] not in METRICS:
        raise MlperfDataError(f"{at}: unknown metric {row['metric']!r}; expected one of {', '.join(METRICS)}")
    if not row["source"].strip():
        raise MlperfDataError(f"{at}: empty source (every row must name where its number was read)")
    try:
        value = float(row["value"])
        count = int(row["accelerator_count"])
    except (TypeError, ValueError) as e:
        raise MlperfDataError(f"{at}: value / accelerator_count is not a number ({e})") from None
    if not (math.isfinite(value) and value > 0):
        raise MlperfDataError(f"{at}: value must be a positive number, got {row['value']!r}")
    if count < 1 or count != float(row["accelerator_count"]):
        raise MlperfDataError(f"{at}: accelerator_count must be a positive integer, got {row['accelerator_count']!r}")
    per = row["per_accelerator_value"]
    if row["metric"] in THROUGHPUT_METRICS:
        if pd.isna(per) or not math.isclose(float(per), value / count, rel_tol=_REL_TOL):
            raise MlperfDataError(f"{at}: per_accelerator_value {per!r} != value / accelerator_count = {value / count:g}")
    elif not pd.isna(per):
        raise MlperfDataError(f"{at}: per_accelerator_value is only for throughput metrics, not {row['metric']!r}")
    batch = row["batch"]
    if not pd.isna(batch) and (float(batch) < 1 or float(batch) != int(float(batch))):
        raise MlperfDataError(f"{at}: batch must be a positive integer or blank, got {batch!r}")


def load_published(path: "str | Path | None" = None) -> pd.DataFrame:
    """Load and check the published-MLPerf table; every bad row raises MlperfDataError naming it.

    Adds a boolean column ``has_preset``: whether ``accelerator`` names a chiplab preset.
    """
    path = Path(path) if path is not None else DEFAULT_PATH
    if not path.is_file():
        raise MlperfDataError(f"{path}: no such MLPerf results file")
    try:
        df = pd.read_csv(path, dtype={c: "string" for c in _TEXT}, keep_default_na=False,
                         na_values={"per_accelerator_value": [""], "batch": [""]})
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise MlperfDataError(f"{path}: not a readable CSV ({e})") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise MlperfDataError(f"{path}: missing column(s) {', '.join(missing)}")
    for i, row in df.iterrows():
        _check_row(path, int(i), row)
    df["value"] = df["value"].astype(float)
    df["accelerator_count"] = df["accelerator_count"].astype(int)
    df["per_accelerator_value"] = df["per_accelerator_value"].astype(float)
    df["batch"] = df["batch"].astype("Int64")
    from chiplab.hw.loader import list_presets  # local: keep this module light to import
    presets = set(list_presets())
    df["has_preset"] = df["accelerator"].isin(presets)
    return df
