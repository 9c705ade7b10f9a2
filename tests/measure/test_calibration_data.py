"""Calibration on real data: the committed CPU measurements (data/measurements/cpu-epyc-2core-2026-11-24.csv)
fitted on half the rows and checked on the other half. The base chip is the device the CSV was
measured on (its chip file next to it), not the machine running the test, so the result is the
same everywhere."""
from pathlib import Path

import numpy as np
import pytest

from chiplab.hw import load_chip
from chiplab.measure.calibrate import fit, graph_for_row, predict
from chiplab.measure.sweep import read_csv

DATA = Path(__file__).resolve().parents[2] / "data" / "measurements"
CSV = DATA / "cpu-epyc-2core-2026-11-24.csv"
CHIP = DATA / "cpu-epyc-2core-2026-11-24.chip.yaml"


def _split(df):
    """Deterministic: train on the even-ranked GEMMs and the even-ranked convs (as bench/prediction_error.py)."""
    sweep = df[df.kind.isin(["gemm", "conv"])]
    return sweep.index[sweep.groupby("kind").cumcount() % 2 == 0]


@pytest.fixture(scope="module")
def fitted():
    df, prov = read_csv(CSV)
    df = df.reset_index(drop=True)
    chip = load_chip(CHIP)
    # the chip file is the CSV's device: same thread count and a CPU
    assert chip.arch.kind == prov["device"] == "cpu" and chip.arch.threads == int(prov["threads"]) == 1
    train = _split(df)
    return fit(chip, df.loc[train]), df.drop(index=train), train


def test_split_is_half_the_sweep(fitted):
    res, test, train = fitted
    assert len(train) == res.rows == 15
    assert (test.kind.isin(["gemm", "conv"])).sum() == 15                 # 15 held out
    assert not set(train) & set(test.index)


def test_held_out_operator_error(fitted):
    """docs/calibration.md reports, for this CSV and this split, a held-out median per-operator
    error of 8.5% (worst 29.4%, the memory-bound 32x4096x4096 GEMM) and says the median meets
    issue 3's 10% target; attention (not fitted on) 4.3% median. The test holds the model to
    that claim: median < 10%, worst < 35%, attention median < 10%."""
    res, test, _ = fitted
    test = test[test.kind.isin(["gemm", "conv", "attention"])]
    pred = predict(res.chip, [graph_for_row(r) for _, r in test.iterrows()])
    err = np.abs(pred / test.median_s.to_numpy() - 1)
    op = test.kind.isin(["gemm", "conv"]).to_numpy()
    assert np.median(err[op]) < 0.10, np.median(err[op])
    assert err[op].max() < 0.35, err[op].max()
    assert np.median(err[~op]) < 0.10, np.median(err[~op])


def test_fitted_knobs_match_the_documented_fit(fitted):
    """docs/calibration.md: effective clock 2.5 GHz (at 16 fp32 MACs/cycle), 15 us per op, 10.9 GB/s."""
    v = fitted[0].values
    assert v["arch.clock"] == pytest.approx(2.5e9, rel=0.1)
    assert v["arch.op_overhead"] == pytest.approx(15e-6, rel=0.25)
    assert v["memory.dram_bandwidth"] == pytest.approx(10.9e9, rel=0.25)


@pytest.mark.slow
def test_held_out_end_to_end(fitted):
    """ResNet-50 and BERT-base captured from code, never fitted on: docs report 3.8% and 4.3%; target 15%."""
    res, test, _ = fitted
    models = test[test.kind == "model"]
    pred = predict(res.chip, [graph_for_row(r) for _, r in models.iterrows()])
    assert np.abs(pred / models.median_s.to_numpy() - 1).max() < 0.15
