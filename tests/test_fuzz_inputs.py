"""Fuzzing every user input chiplab reads: chip files, SCALE-Sim cfgs and topologies, ONNX.

Each mutated input must give either a valid estimate whose figures are all finite and
non-negative (and strict JSON), or a ChiplabError with a one-line message: never another
exception, never a NaN, an infinity or a negative number. The real CLI is driven on a sample
and must exit 2 with a single ``error:`` line and no traceback.

Deterministic: every test runs under the ``FUZZ`` settings (``derandomize=True``, no example
database), so CI sees the same examples every run. Budget: well under 60 s on one core.
"""
from __future__ import annotations

import copy
import json
import math
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from chiplab.capture import import_scalesim_csv
from chiplab.errors import ChiplabError
from chiplab.hw import list_presets, parse_chip
from chiplab.hw.loader import PRESET_DIR
from chiplab.perf.estimate import estimate

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

WORK = Path(tempfile.mkdtemp(prefix="chiplab-fuzz-"))

CONV_CSV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
            "c1, 12, 12, 3, 3, 4, 8, 1,\nDP_c2, 10, 10, 3, 3, 8, 1, 2,\n")
GEMM_CSV = "Layer Name, M, N, K,\ng1, 64, 32, 16,\ng2, 8, 128, 64,\n"
CFG = """[general]
run_name = fuzz
[architecture_presets]
ArrayHeight: 16
ArrayWidth: 8
IfmapSramSzkB: 8
FilterSramSzkB: 8
OfmapSramSzkB: 8
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : 4
Dataflow : ws
[layout]
IfmapSRAMBankBandwidth: 2
FilterSRAMBankBandwidth: 3
[run_presets]
InterfaceBandwidth: USER
"""

_csv = WORK / "conv.csv"
_csv.write_text(CONV_CSV)
GRAPH = import_scalesim_csv(_csv)          # a tiny conv workload every mutated chip runs

PRESETS = {n: yaml.safe_load((PRESET_DIR / f"{n}.yaml").read_text()) for n in list_presets()}

# values a fuzzer would try in place of a quantity, a count or a rate
BAD_NUMBERS = [0, -1, float("nan"), float("inf"), -float("inf"), 1e300, 1e-320, 2**70, 0.5, True, None]
BAD_THINGS = ["garbage", "", "1e400 GHz", [1, 2], {"a": 1}, "x" * 5000]


def _mutant_value(original, pick: int, bad: int):
    """A replacement for a leaf: a bad number, the same unit with a bad number, or junk."""
    if pick == 0:
        return BAD_NUMBERS[bad % len(BAD_NUMBERS)]
    if pick == 1 and isinstance(original, str) and " " in original:
        unit = original.split(" ", 1)[1]
        return f"{['0', '-1', 'nan', 'inf', '1e300', '1e-320', '-0', '1e15'][bad % 8]} {unit}"
    return BAD_THINGS[bad % len(BAD_THINGS)]


def _leaves(d, prefix=()):
    for k, v in d.items():
        if k == "sources":
            continue
        if isinstance(v, dict):
            yield from _leaves(v, prefix + (k,))
        else:
            yield prefix + (k,)


def _ok_or_one_line_error(fn) -> str:
    """Run ``fn``; the estimate must be sane, or the error a one-line ChiplabError."""
    try:
        est = fn()
    except ChiplabError as e:
        msg = str(e)
        assert msg and "\n" not in msg and len(msg) < 400, repr(msg[:500])
        return "error"
    tot = est.total()
    for k, v in tot.items():
        if k == "bottleneck":             # the one text field: the resource that sets the rate
            assert isinstance(v, str) and v, (k, v)
        elif v is not None:
            assert math.isfinite(v) and v >= 0, (k, v)
    for l in est.layers:
        for k in ("cycles", "latency_s", "energy_j", "utilization", "dram_bytes", "sram_bytes"):
            v = getattr(l, k)
            assert math.isfinite(v) and v >= 0, (l.name, k, v)
    assert tot["latency_s"] > 0
    json.loads(est.to_json())
    return "ok"


# --- chip files -----------------------------------------------------------------------------

@settings(FUZZ, max_examples=400)
@given(st.sampled_from(sorted(PRESETS)), st.data())
def test_fuzz_chip_file_values(preset, data):
    d = copy.deepcopy(PRESETS[preset])
    leaves = list(_leaves(d))
    path = data.draw(st.sampled_from(leaves), label="field")
    action = data.draw(st.integers(0, 4), label="action")
    o = d
    for k in path[:-1]:
        o = o[k]
    if action == 4:
        del o[path[-1]]
    else:
        o[path[-1]] = _mutant_value(o[path[-1]], action % 3, data.draw(st.integers(0, 20), label="bad"))
    _ok_or_one_line_error(lambda: estimate(GRAPH, parse_chip(d, origin=f"{preset}.yaml")))


@settings(FUZZ, max_examples=150)
@given(st.sampled_from(sorted(PRESETS)), st.integers(0, 10_000), st.integers(0, 5))
def test_fuzz_chip_file_text(preset, where, action):
    """Line-level edits of the YAML text: duplicated, deleted, truncated or garbled lines."""
    lines = (PRESET_DIR / f"{preset}.yaml").read_text().splitlines(keepends=True)
    i = where % len(lines)
    if action == 0:
        lines.insert(i, lines[i])                   # duplicate key
    elif action == 1:
        del lines[i]
    elif action == 2:
        lines = lines[:i] + [lines[i][: len(lines[i]) // 2]]
    elif action == 3:
        lines[i] = lines[i].replace(":", ": &a", 1) + "x: *a\n"
    elif action == 4:
        lines[i] = "\t" + lines[i]
    else:
        lines[i] = lines[i].replace(" ", " !!python/object:os.system ", 1)
    p = WORK / f"text-{preset}.yaml"
    p.write_text("".join(lines))
    _ok_or_one_line_error(lambda: estimate(GRAPH, p))


# --- SCALE-Sim cfg and topology -------------------------------------------------------------

CFG_JUNK = ["0", "-1", "abc", "%(x)s", "1e300", "99999999999", "", "nan", "1.5", "os", "CALC", "USER", "4,4"]


@settings(FUZZ, max_examples=200)
@given(st.integers(0, 10_000), st.integers(0, 3), st.sampled_from(CFG_JUNK))
def test_fuzz_scalesim_cfg(where, action, junk):
    lines = CFG.splitlines(keepends=True)
    i = where % len(lines)
    if action == 0 and ":" in lines[i]:
        lines[i] = lines[i].split(":")[0] + ": " + junk + "\n"
    elif action == 1:
        del lines[i]
    elif action == 2:
        lines.insert(i, lines[i])
    else:
        lines[i] = junk + "\n"
    p = WORK / "fuzz.cfg"
    p.write_text("".join(lines))
    _ok_or_one_line_error(lambda: estimate(_csv, p, compat="scalesim"))


@settings(FUZZ, max_examples=200)
@given(st.sampled_from([CONV_CSV, GEMM_CSV]), st.integers(0, 10_000), st.integers(0, 3),
       st.sampled_from(CFG_JUNK + ["1", "100000", "2147483648"]))
def test_fuzz_scalesim_topology(text, where, action, junk):
    rows = [r.split(",") for r in text.splitlines()]
    i = where % len(rows)
    j = (where // 7) % len(rows[i])
    if action == 0:
        rows[i][j] = " " + junk
    elif action == 1:
        del rows[i]
    elif action == 2:
        rows.insert(i, rows[i])
    else:
        rows[i] = rows[i][: j]
    p = WORK / "fuzz.csv"
    p.write_text("\n".join(",".join(r) for r in rows) + "\n")
    _ok_or_one_line_error(lambda: estimate(p, "systolic-32", compat="scalesim"))


# --- ONNX -----------------------------------------------------------------------------------

def _onnx_model(x_dims, w_dims, conv_attrs, fc_k, matmul: bool):
    w = helper.make_tensor("w", TensorProto.FLOAT, w_dims, [0.0] * math.prod(w_dims)) if all(
        isinstance(d, int) and d > 0 for d in w_dims) and math.prod(w_dims) < 10_000 else \
        helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.0] * 108)
    fw = helper.make_tensor("fw", TensorProto.FLOAT, [fc_k, 10], [0.0] * (fc_k * 10))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv1", **conv_attrs),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"),
             helper.make_node("Flatten", ["r"], ["f"], name="flat"),
             helper.make_node("MatMul" if matmul else "Gemm", ["f", "fw"], ["y"], name="fc")]
    g = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_dims)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, fw])
    return helper.make_model(g)


small = st.integers(-1, 9)
dim = st.one_of(st.integers(-1, 12), st.sampled_from(["b", "h", ""]))


ONNX_MUTATIONS = {
    "x_dims": st.lists(dim, min_size=2, max_size=5), "w_dims": st.lists(st.integers(-1, 5), min_size=3, max_size=5),
    "pads": st.lists(small, max_size=5), "strides": st.lists(small, max_size=3), "dilations": st.lists(small, max_size=3),
    "group": st.integers(-1, 4), "auto_pad": st.sampled_from(["SAME_UPPER", "VALID", "bogus"]),
    "fc_k": st.integers(1, 300), "cut": st.integers(0, 400), "matmul": st.just(True),
}


@settings(FUZZ, max_examples=150)
@given(st.sets(st.sampled_from(sorted(ONNX_MUTATIONS)), max_size=2), st.data())
def test_fuzz_onnx(fields, data):
    """A valid conv -> relu -> flatten -> Gemm/MatMul model with zero to two fields mutated."""
    v = {"x_dims": ["b", 3, 8, 8], "w_dims": [4, 3, 3, 3], "fc_k": 4 * 6 * 6, "cut": None, "matmul": False}
    for f in sorted(fields):
        v[f] = data.draw(ONNX_MUTATIONS[f], label=f)
    attrs = {k: v[k] for k in ("pads", "strides", "dilations", "group", "auto_pad") if k in v}
    try:
        model = _onnx_model(v["x_dims"], v["w_dims"], attrs, v["fc_k"], v["matmul"])
    except (ValueError, TypeError):
        return                                  # onnx.helper itself refuses it: not an input chiplab sees
    raw = model.SerializeToString()
    p = WORK / "fuzz.onnx"
    p.write_bytes(raw[: v["cut"]] if v["cut"] is not None else raw)
    _ok_or_one_line_error(lambda: estimate(p, "systolic-32", batch=2))


def test_fuzz_onnx_finds_valid_models_too():
    """The generator is not all errors: the unmutated model estimates."""
    p = WORK / "valid.onnx"
    p.write_bytes(_onnx_model(["b", 3, 8, 8], [4, 3, 3, 3], {}, 4 * 36, False).SerializeToString())
    assert _ok_or_one_line_error(lambda: estimate(p, "systolic-32", batch=2)) == "ok"


# --- the real CLI ---------------------------------------------------------------------------

def _cli(*args):
    from typer.testing import CliRunner

    from chiplab.cli import app

    env = {k: v for k, v in os.environ.items() if k != "CHIPLAB_DEBUG"}
    return CliRunner(env=env).invoke(app, list(args), env={"CHIPLAB_DEBUG": ""})


def _assert_one_line_error(r):
    assert r.exit_code == 2, (r.exit_code, r.output[-500:], r.exception)
    err = r.stderr.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in r.output, err[:500]


def _bad_inputs():
    """A fixed sample of the inputs the fuzz above refuses, one per kind."""
    d = copy.deepcopy(PRESETS["tpu-v1"])
    d["arch"]["clock"] = "0 GHz"
    zero_clock = WORK / "cli-zero-clock.yaml"
    zero_clock.write_text(yaml.safe_dump(d))
    d = copy.deepcopy(PRESETS["tpu-v1"])
    d["power"]["price"] = "-1 USD"
    neg_price = WORK / "cli-neg-price.yaml"
    neg_price.write_text(yaml.safe_dump(d))
    cfg = WORK / "cli-interp.cfg"
    cfg.write_text(CFG.replace("ArrayHeight: 16", "ArrayHeight: %(x)s"))
    csv = WORK / "cli-big.csv"
    csv.write_text(GEMM_CSV.replace("64, 32", "64, 99999999999999999999"))
    empty = WORK / "cli-empty.onnx"
    empty.write_bytes(b"")
    pads = WORK / "cli-pads.onnx"
    pads.write_bytes(_onnx_model([1, 3, 8, 8], [4, 3, 3, 3], {"pads": [1]}, 144, False).SerializeToString())
    fifo = WORK / "cli-fifo.yaml"
    if not fifo.exists():
        os.mkfifo(fifo)
    return [(str(_csv), str(zero_clock)), (str(_csv), str(neg_price)), (str(_csv), str(cfg)),
            (str(csv), "systolic-32"), (str(empty), "systolic-32"), (str(pads), "systolic-32"),
            (str(_csv), str(fifo)), (str(_csv), str(WORK))]


@pytest.mark.parametrize("case", range(8))
def test_cli_refuses_bad_inputs_with_one_line(case):
    workload, chip = _bad_inputs()[case]
    _assert_one_line_error(_cli("estimate", workload, "--chip", chip, "--json"))


@settings(FUZZ, max_examples=40)
@given(st.sampled_from(sorted(PRESETS)), st.data())
def test_cli_fuzzed_chip_files(preset, data):
    """A sample of the mutated chip files through the real CLI: exit 0 with strict JSON, or exit 2 with one line."""
    d = copy.deepcopy(PRESETS[preset])
    path = data.draw(st.sampled_from(list(_leaves(d))), label="field")
    o = d
    for k in path[:-1]:
        o = o[k]
    o[path[-1]] = _mutant_value(o[path[-1]], data.draw(st.integers(0, 2)), data.draw(st.integers(0, 20)))
    p = WORK / "cli-fuzz.yaml"
    p.write_text(yaml.safe_dump(d))
    r = _cli("estimate", str(_csv), "--chip", str(p), "--json")
    if r.exit_code == 0:
        tot = json.loads(r.stdout)["total"]
        assert all(v is None or (math.isfinite(v) and v >= 0) for k, v in tot.items() if k != "bottleneck")
    else:
        _assert_one_line_error(r)
