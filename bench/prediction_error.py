"""Predicted versus measured time, on data the fit did not see.

For each measurement CSV (default: every file in data/measurements/), the chip's
efficiency knobs are fitted on half of the GEMM sweep and half of the convolutions
(even rows), then chiplab predicts the held-out rows: the other GEMMs and convs,
attention, and whole models end to end (ResNet-50, BERT-base captured from code).
Prints a table and, per device, the median and worst absolute error by category.
Targets (issue 3): <= 10% per operator on the GEMM/conv sweep, <= 15% end to end.

The fit starts from the chip the CSV was measured on, never silently from whatever
machine runs this script: ``--chip FILE`` if given, else the CSV's own chip file next to
it (``<csv stem>.chip.yaml``), else the detected host only when the CSV's provenance
names this machine (same device_name, host and machine). Otherwise it refuses (exit 2).

    OMP_NUM_THREADS=1 python bench/prediction_error.py [CSV ...] [--chip FILE.yaml|host]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def chip_file_for(csv: Path) -> Path:
    """The chip file that describes the device a measurement CSV was taken on."""
    return csv.with_name(csv.stem + ".chip.yaml")


def base_chip(csv: Path, prov: dict, chip: str | None):
    """The chip to fit for ``csv``: ``chip`` if given, else the CSV's own chip file, else the host
    when the CSV was measured on this machine; a ChiplabError (one line) otherwise."""
    from chiplab.errors import ChiplabError
    from chiplab.hw import load_chip

    if chip is None:
        own = chip_file_for(csv)
        if own.exists():
            chip = str(own)
        elif prov.get("device", "cpu") == "cpu":
            import platform

            from chiplab.hw.host import _cpuinfo

            here = {"device_name": _cpuinfo().get("model name", platform.processor() or "unknown CPU"),
                    "host": platform.node() or "unknown", "machine": platform.machine()}
            diff = [f"{k} {prov.get(k)!r} (here {v!r})" for k, v in here.items() if prov.get(k) != v]
            if diff:
                raise ChiplabError(f"{csv}: measured on another device ({', '.join(diff)}); "
                                   f"give its chip file with --chip FILE.yaml (or {chip_file_for(csv).name} next to it)")
            chip = "host"
        else:
            raise ChiplabError(f"{csv}: say --chip for a {prov.get('device')} CSV")
    base = load_chip(chip)
    if base.arch.kind == "cpu":
        base = base.model_copy(update={"arch": base.arch.model_copy(update={"threads": int(prov.get("threads", 1))})})
    return base


def split(df):
    """Training rows: the even-ranked GEMMs and even-ranked convolutions (deterministic); the rest is held out."""
    sweep = df[df.kind.isin(["gemm", "conv"])]
    rank = sweep.groupby("kind").cumcount()
    return sweep.index[rank % 2 == 0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", nargs="*", type=Path)
    ap.add_argument("--chip", default=None,
                    help="chip file of the device the CSV was measured on (default: the CSV's .chip.yaml, else host if it was measured here)")
    args = ap.parse_args(argv)
    from chiplab.errors import ChiplabError
    from chiplab.measure.calibrate import fit, graph_for_row, predict
    from chiplab.measure.sweep import read_csv

    files = args.csv or sorted((ROOT / "data" / "measurements").glob("*.csv"))
    if not files:
        print("no measurement CSVs (run: chiplab measure --quick)")
        return 1
    summary = {}
    for f in files:
        df, prov = read_csv(f)
        try:
            base = base_chip(f, prov, args.chip)
        except ChiplabError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        df = df.reset_index(drop=True)
        train_idx = split(df)
        res = fit(base, df.loc[train_idx])
        test = df.drop(index=train_idx)
        pred = predict(res.chip, [graph_for_row(r) for _, r in test.iterrows()])
        err = np.abs(pred / test.median_s.to_numpy() - 1)
        print(f"\n== {f.name}: {prov.get('device_name', '?')} ({prov.get('device')}, {prov.get('threads')} thread(s), "
              f"measured {prov.get('date_utc')}) on chip {base.name} ==")
        print("fitted on", len(train_idx), "rows:", ", ".join(f"{k}={v:.4g}" for k, v in res.values.items()))
        print(f"{'held-out row':30s} {'measured':>11s} {'predicted':>11s} {'error':>7s}")
        for (_, r), p, e in zip(test.iterrows(), pred, err):
            print(f"{r['name']:30s} {r.median_s * 1e3:9.3f}ms {p * 1e3:9.3f}ms {e:7.1%}")
        cats = {"gemm/conv (per operator)": test.kind.isin(["gemm", "conv"]).to_numpy(),
                "attention": (test.kind == "attention").to_numpy(), "end to end": (test.kind == "model").to_numpy()}
        dev = {}
        print(f"{'category':28s} {'n':>3s} {'median':>8s} {'worst':>8s}")
        for name, mask in cats.items():
            if mask.any():
                dev[name] = {"n": int(mask.sum()), "median": float(np.median(err[mask])), "worst": float(err[mask].max())}
                print(f"{name:28s} {mask.sum():3d} {np.median(err[mask]):8.1%} {err[mask].max():8.1%}")
        summary[f.name] = dev
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
