"""Weight and KV formats from the chip's numerics (issue #12, item 3)."""
import pytest
from typer.testing import CliRunner

from chiplab.cli import app
from chiplab.errors import CapacityError, ChiplabError
from chiplab.hw.arch.base import CapabilityError
from chiplab.serve.cost import MEMORY_RESERVE, LlmCost
from chiplab.serve.models import MODELS
from chiplab.system import load_system

H100, A100, TPU = load_system("dgx-h100"), load_system("dgx-a100"), load_system("tpu-v4-8")
L70, L8 = MODELS["llama-2-70b"], MODELS["llama-3.1-8b"]


def test_defaults_are_the_activation_precision():
    c = LlmCost(L8, H100)
    assert c.precision == c.weights == c.kv == c.gemm_precision == "bf16"
    f = LlmCost(L8, H100, precision="fp8")          # the MLPerf rows: fp8 weights, KV and GEMMs
    assert f.weights == f.kv == f.gemm_precision == "fp8" and f.wbytes == f.kvbytes == 1


def test_kv_bytes_halve_from_bf16_to_fp8():
    a, b = LlmCost(L70, H100, tp=8), LlmCost(L70, H100, tp=8, kv="fp8")
    assert b.kv_bytes_per_token == a.kv_bytes_per_token / 2 == 2 * L70.layers * L70.kv_dim
    assert b.weight_bytes_chip == a.weight_bytes_chip                       # weights untouched
    assert abs(b.kv_capacity_tokens - 2 * a.kv_capacity_tokens) <= 2        # twice the tokens fit
    da, db = a.decode(2000, batch=64), b.decode(2000, batch=64)
    assert db.attn_bytes == pytest.approx(da.attn_bytes / 2)                # decode attention DRAM traffic
    assert db.gemm_bytes == da.gemm_bytes


@pytest.mark.parametrize("system,chip,kw", [(A100, "a100-sxm4-40gb", {"weights": "fp8"}),
                                            (A100, "a100-sxm4-40gb", {"kv": "fp8"}),
                                            (TPU, "tpu-v4", {"weights": "fp8"})])
def test_a_format_outside_the_chips_numerics_is_one_line(system, chip, kw):
    with pytest.raises(CapabilityError) as e:
        LlmCost(L8, system, tp=4, **kw)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{chip}:") and "fp8" in msg


def test_unknown_format_is_refused():
    with pytest.raises(ChiplabError, match="unknown format"):
        LlmCost(L8, H100, weights="fp4")


def test_llama_70b_fits_tpu_v4_8_with_int8_weights():
    usable = TPU.chip().memory.dram_capacity * MEMORY_RESERVE
    assert L70.params * 2 / 4 > usable > L70.params * 1 / 4                  # the arithmetic, per chip at tp=4
    with pytest.raises(CapacityError):
        LlmCost(L70, TPU, tp=4)                                               # bf16: out of memory
    c = LlmCost(L70, TPU, tp=4, weights="int8")
    assert c.weights == "int8" and c.kv == "bf16" and c.weight_bytes_chip == L70.params / 4
    assert c.gemm_precision == "bf16"          # int8 weights x bf16 activations run at bf16
    assert c.kv_capacity_tokens == int((usable - L70.params / 4) / c.kv_bytes_per_token_chip)


def test_int4_is_weight_only_and_computes_at_the_activation_precision():
    chip = H100.chip()
    a, b = LlmCost(L8, H100), LlmCost(L8, H100, weights="int4")
    assert b.wbytes == 0.5 and b.gemm_precision == "bf16"
    assert b.peak == pytest.approx(chip.peak_macs_per_s("bf16") * chip.arch.tensor_efficiency)
    assert b.decode(500).gemm_bytes == pytest.approx(a.decode(500).gemm_bytes / 4)
    assert b.step_time(1, 1, 500, 500) < a.step_time(1, 1, 500, 500)        # memory-bound decode gets faster
    with pytest.raises(CapabilityError, match="h100-sxm: no int4"):
        LlmCost(L8, H100, weights="int4", precision="int4")                   # no int4 MACs


def test_gemm_runs_at_the_wider_operand():
    chip = H100.chip()
    w8a16 = LlmCost(L8, H100, weights="fp8")
    w8a8 = LlmCost(L8, H100, precision="fp8")
    assert w8a16.gemm_precision == "bf16" and w8a8.gemm_precision == "fp8"
    assert w8a8.peak == pytest.approx(2 * w8a16.peak) == pytest.approx(
        chip.peak_macs_per_s("fp8") * chip.arch.tensor_efficiency)
    assert LlmCost(L8, H100, weights="int8", precision="fp8").gemm_precision == "bf16"   # int8 x fp8: no such MAC


def test_cli_formats_and_refusal():
    r = CliRunner().invoke(app, ["serve", "llama-3.1-8b", "--system", "dgx-a100", "--weights", "fp8", "--qps", "1",
                                 "-n", "10"])
    assert r.exit_code == 2 and "a100-sxm4-40gb" in r.output and "fp8" in r.output and r.output.count("\n") == 1
    r = CliRunner().invoke(app, ["serve", "llama-2-70b", "--system", "tpu-v4-8", "--weights", "int8", "--qps", "0.5",
                                 "-n", "20", "--json"])
    assert r.exit_code == 0, r.output
    import json
    d = json.loads(r.stdout)
    assert d["weights"] == "int8" and d["kv"] == "bf16" and d["tp"] == 4
