"""Serving engine features: paged KV blocks, chunked prefill, preemption by recompute, prefill/decode
disaggregation with KV transfer, per-watt / per-dollar figures, request traces. Timings by hand."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from chiplab.cli import app
from chiplab.errors import ChiplabError
from chiplab.serve.cluster import kv_transfer_s, simulate_disaggregated, simulate_replicas
from chiplab.serve.cost import LlmCost
from chiplab.serve.models import get_model
from chiplab.serve.run import _wpct, load_trace, serve
from chiplab.serve.sim import Workload, blocks_for, simulate
from chiplab.system import load_system

runner = CliRunner()


class Constant:
    def __init__(self, d):
        self.d = d

    def step_time(self, n_tok, n_out, pairs, kv_read):
        return self.d


class Recorder(Constant):
    def __init__(self, d):
        super().__init__(d)
        self.calls = []

    def step_time(self, n_tok, n_out, pairs, kv_read):
        self.calls.append((n_tok, n_out, pairs, kv_read))
        return self.d


class Roofline:
    """A step reads the weights (floor ``a``) or is compute-bound (``b`` per token), the larger of the two."""
    def __init__(self, a, b):
        self.a, self.b = a, b

    def step_time(self, n_tok, n_out, pairs, kv_read):
        return max(self.a, self.b * n_tok)


def wl(arr, p, o, beams=None):
    return Workload(np.array(arr, dtype=float), np.array(p), np.array(o), None if beams is None else np.array(beams))


# ---- 1. paged KV ----------------------------------------------------------------------------------

def test_blocks_count_whole_blocks_and_share_the_prompt_between_beams():
    assert blocks_for(20, 14, 1, 16) == 3                   # 34 tokens -> 3 blocks of 16 (14 slots wasted)
    assert blocks_for(20, 14, 1, 1) == 34
    # 4 beams: the prompt's full block (16 tokens) is shared; each beam owns 4 copied + 10 own tokens -> 1 block
    assert blocks_for(20, 10, 4, 16) == 1 + 4 * 1
    assert blocks_for(32, 1, 2, 16) == 2 + 2 * 1


def test_block_fragmentation_holds_back_admission():
    # two requests of 20 + 14 = 34 tokens in an 80-token cache: exact accounting fits both (68 tokens);
    # 16-token blocks: 5 blocks, each request needs 3 -> the second waits for the first to finish
    w = wl([0, 0], [20, 20], [14, 14])
    exact = simulate(Constant(0.1), w, kv_capacity=80, block_size=1)
    assert exact.ttft[1] == pytest.approx(0.1)
    paged = simulate(Constant(0.1), w, kv_capacity=80, block_size=16)
    assert paged.ttft[1] == pytest.approx(paged.e2e[0] + 0.1)


def test_a_request_larger_than_the_cache_is_a_one_line_error():
    with pytest.raises(ChiplabError, match="request 0: .* need 3 KV blocks of 16 tokens, but the cache holds 2"):
        simulate(Constant(0.1), wl([0], [20], [14]), kv_capacity=47, block_size=16)


# ---- 2. chunked prefill ---------------------------------------------------------------------------

def _long_prompt_load():
    """16 chat requests (16-token prompts, 400 output tokens) decode while five 4,000-token prompts arrive."""
    arr = [0.0] * 16 + [0.5, 1.5, 2.5, 3.5, 4.5]
    return wl(arr, [16] * 16 + [4000] * 5, [400] * 16 + [2] * 5)


def test_chunked_prefill_lowers_tpot_p99_at_a_ttft_cost():
    # a step costs max(20 ms, 0.1 ms/token): a decode step of 16 tokens is weight-bound (20 ms); a whole
    # 4,000-token prompt takes 400 ms and stalls every decoder; in 256-token chunks (budget 256 - 16 decode
    # tokens = 240 per chunk, 25.6 ms a step) the decoders go on emitting while the prompt is prefilled
    cost, w = Roofline(0.020, 1e-4), _long_prompt_load()
    whole = simulate(cost, w, token_budget=256, kv_capacity=1 << 20)
    chunked = simulate(cost, w, token_budget=256, kv_capacity=1 << 20, chunked_prefill=True)
    # by hand, one decoder's life: 399 steps after its first token; whole: 5 of them are 400.16 ms prefill
    # steps (4,016 tokens) -> (394 x 20 + 5 x 401.6) / 399 ms; chunked: per prompt 16 chunks of 240 tokens
    # (+16 decode tokens: 25.6 ms) and one of 160 (176 tokens: 20 ms) -> (319 x 20 + 80 x 25.6) / 399 ms
    assert whole.tpot[0] == pytest.approx((394 * 0.020 + 5 * 0.4016) / 399, rel=1e-9)
    assert chunked.tpot[0] == pytest.approx((319 * 0.020 + 80 * 0.0256) / 399, rel=1e-9)
    assert np.percentile(chunked.tpot, 99) < 0.9 * np.percentile(whole.tpot, 99)      # 21.1 vs 24.8 ms
    # the long prompts' first token comes later. The first arrives at 0.5 s during the step ending at
    # 0.0256 + 24 x 0.02 = 0.5056 s (5.6 ms of wait), then 16 x 25.6 + 20 ms in chunks, or 401.6 ms whole
    # the time between tokens: 80 of the decoders' 16 x 399 gaps (1.25 %) are 401.6 ms stalls when whole;
    # chunked, no gap is longer than a 25.6 ms chunk step
    dt, n = whole.itl()
    assert n[dt > 0.4].sum() == 80 and n.sum() == 16 * 399 + 5
    dt, n = chunked.itl()
    assert dt[n > 0].max() == pytest.approx(0.0256)
    assert _wpct(*whole.itl())["p99"] == pytest.approx(0.4016) and _wpct(*chunked.itl())["p99"] == pytest.approx(0.0256)
    wait = 0.0256 + 24 * 0.020 - 0.5
    assert whole.ttft[16] == pytest.approx(wait + 0.4016, rel=1e-9)
    assert chunked.ttft[16] == pytest.approx(wait + 16 * 0.0256 + 0.020, rel=1e-9)
    assert chunked.tokens == whole.tokens == int(w.outputs.sum())


def test_chunks_are_priced_as_one_prompt_split_in_steps():
    # one 100-token prompt in 40-token chunks: pairs c*k + c(c+1)/2, KV read k, LM head on the last chunk only
    c = Recorder(0.1)
    r = simulate(c, wl([0], [100], [2]), token_budget=40, kv_capacity=1000, chunked_prefill=True)
    assert c.calls[:3] == [(40, 0, 40 * 41 / 2, 0), (40, 0, 40 * 40 + 40 * 41 / 2, 40),
                           (20, 1, 20 * 80 + 20 * 21 / 2, 80)]
    assert r.ttft[0] == pytest.approx(0.3)
    # the three chunks' pairs add up to the whole prompt's 100 x 101 / 2
    assert sum(call[2] for call in c.calls[:3]) == 100 * 101 / 2


def test_weighted_percentiles_by_hand():
    x = np.array([1.0, 2.0, 3.0])
    assert _wpct(x, np.array([1, 1, 98])) == {"p50": 3.0, "p90": 3.0, "p99": 3.0}
    assert _wpct(x, np.array([98, 1, 1])) == {"p50": 1.0, "p90": 1.0, "p99": 2.0}


# ---- 3. preemption --------------------------------------------------------------------------------

def test_tiny_kv_cache_forces_preemption_and_every_request_still_finishes():
    # 4 blocks of 16 tokens; three requests of 10 prompt + 30 output tokens (3 blocks each at the end).
    # By hand: step 0 prefills all three (1 block each). On step 6 each crosses into a 2nd block: 3 needed,
    # 1 free -> request 2 (admitted last) is preempted. On step 22 requests 0 and 1 cross into a 3rd block:
    # 2 needed, 0 free -> request 1 is preempted (it has 22 tokens) and waits at the queue's head.
    # Request 0 ends on step 29; request 1 recomputes 10 + 22 tokens on step 30 and ends on step 37;
    # request 2 recomputes 10 + 6 on step 38 and ends on step 38 + 23 = 61.
    c = Recorder(0.1)
    w = wl([0, 0, 0], [10, 10, 10], [30, 30, 30])
    r = simulate(c, w, kv_capacity=64, block_size=16, kv_policy="on-demand")
    assert r.preemptions == 2
    assert r.finish == pytest.approx([3.0, 3.8, 6.2])
    assert r.ttft == pytest.approx([0.1, 0.1, 0.1])             # the first token is not re-emitted
    assert c.calls[30] == (32, 1, 32 * 33 / 2, 0) and c.calls[38] == (16, 1, 16 * 17 / 2, 0)
    assert r.tokens == 90 and r.steps == 62
    # the reserve policy never preempts (it holds the whole output's blocks from admission)
    assert simulate(Constant(0.1), w, kv_capacity=64, block_size=16, kv_policy="reserve").preemptions == 0


def test_preemption_under_load_conserves_tokens():
    rng = np.random.default_rng(1)
    n = 400
    w = Workload(np.cumsum(rng.exponential(0.01, n)), rng.integers(1, 200, n), rng.integers(1, 200, n))
    for chunked in (False, True):
        r = simulate(Roofline(0.01, 1e-5), w, kv_capacity=2000, block_size=16, kv_policy="on-demand",
                     chunked_prefill=chunked, token_budget=256)
        assert r.preemptions > 0
        assert r.tokens == int(w.outputs.sum()) and (r.finish >= r.first).all() and (r.ttft > 0).all()


# ---- 4. prefill/decode disaggregation ---------------------------------------------------------------

def test_kv_transfer_time_by_hand():
    # llama-3.1-8b, bf16, tp=1 on dgx-h100: KV per token = 2 (K, V) x 32 layers x 8 KV heads x 128 x 2 bytes
    # = 131,072 B; a 1,000-token prompt over NVSwitch (450 GB/s per direction, 5 us): 5 us + 131.072 MB / 450 GB/s
    cost = LlmCost(get_model("llama-3.1-8b"), load_system("dgx-h100"), tp=1)
    assert kv_transfer_s(cost, 1000) == pytest.approx(5e-6 + 1000 * 131072 / 450e9, rel=1e-12)


def test_disaggregated_timeline_by_hand():
    # one prefill and one decode engine, steps of 0.1 s, transfer 0.05 s per request on the prefill link.
    # Two requests arrive at 0 and are prefilled together (first tokens at 0.1); their KV leaves one after
    # the other (0.15, then 0.20: the link is busy until 0.15). The decode engine starts request 0 at 0.15
    # (tokens at 0.25, 0.35, 0.45); request 1, here at 0.20, joins at the next step start, 0.25 (0.35, 0.45, 0.55)
    w = wl([0, 0], [100, 100], [4, 4])
    r = simulate_disaggregated(Constant(0.1), w, 1, 1, lambda p: 0.05, kv_capacity=10_000)
    assert r.ttft == pytest.approx([0.1, 0.1])
    assert r.kv_transfer == pytest.approx([0.05, 0.10])        # the second waits for the link
    assert r.finish == pytest.approx([0.45, 0.55])
    assert r.tokens == 8


def test_serve_disaggregated_reports_the_transfer():
    out = serve("llama-3.1-8b", "dgx-h100", tp=1, qps=4.0, requests=200, disaggregate=(1, 1))
    assert out["engine"]["disaggregate"] == {"prefill": 1, "decode": 1}
    cost = LlmCost(get_model("llama-3.1-8b"), load_system("dgx-h100"), tp=1)
    kv = out["kv_transfer_s"]
    assert kv_transfer_s(cost, 1) <= kv["p50"] <= kv["p99"] and kv["p99"] < kv_transfer_s(cost, 4 * 1024)
    with pytest.raises(ChiplabError, match="P \\+ D dividing the 8 replicas"):
        serve("llama-3.1-8b", "dgx-h100", tp=1, qps=4.0, requests=10, disaggregate=(3, 4))


# ---- 5. per watt, per dollar ------------------------------------------------------------------------

def test_per_watt_and_per_dollar_from_the_chip_file_or_null():
    out = serve("llama-3.1-8b", "dgx-h100", tp=1, qps=4.0, requests=200)
    assert out["tokens_per_s_per_watt"] == pytest.approx(out["tokens_per_s"] / (8 * 700))          # h100-sxm: 700 W
    assert out["tokens_per_s_per_usd"] == pytest.approx(out["tokens_per_s"] / (8 * 27500))         # $27,500
    l40s = serve("llama-3.1-8b", "pcie-8x-l40s", tp=1, qps=4.0, requests=200)
    assert l40s["tokens_per_s_per_watt"] == pytest.approx(l40s["tokens_per_s"] / (8 * 350))
    assert l40s["tokens_per_s_per_usd"] is None and "no power.price" in l40s["efficiency_notes"][0]


# ---- 6. traces ---------------------------------------------------------------------------------------

def test_trace_runs_every_replica(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("arrival_s,prompt_tokens,output_tokens\n" + "".join(f"{i * 0.05},{100 + i},{20}\n" for i in range(80)))
    w = load_trace(str(f))
    assert len(w.arrivals) == 80 and w.prompts[3] == 103
    out = serve("llama-3.1-8b", "dgx-h100", tp=1, trace=str(f))
    assert out["requests"] == 80 and out["tokens_per_s"] > 0
    r = simulate_replicas(Constant(0.01), w, 8, kv_capacity=10_000)
    assert r.tokens == 80 * 20 and (r.finish > 0).all()


@pytest.mark.parametrize("body,msg", [
    ("arrival_s,prompt_tokens\n0,1\n", "header lacks column(s) output_tokens"),
    ("arrival_s,prompt_tokens,output_tokens\n0,10,5\n0.1,ten,5\n", "row 3, column prompt_tokens: 'ten' is not a whole"),
    ("arrival_s,prompt_tokens,output_tokens\n1,10,5\n0.5,10,5\n", "row 3, column arrival_s"),
    ("arrival_s,prompt_tokens,output_tokens\n0,10,0\n", "row 2, column output_tokens: 0 must be >= 1"),
    ("arrival_s,prompt_tokens,output_tokens\n0,10\n", "row 2, column output_tokens: '' is not"),
    ("arrival_s,prompt_tokens,output_tokens\n", "no requests"),
])
def test_malformed_trace_is_a_one_line_error_naming_row_and_column(tmp_path, body, msg):
    f = tmp_path / "bad.csv"
    f.write_text(body)
    r = runner.invoke(app, ["serve", "llama-3.1-8b", "--system", "dgx-h100", "--tp", "1", "--trace", str(f)])
    assert r.exit_code == 2 and msg in r.output and r.output.count("\n") == 1, r.output


def test_cli_json_keeps_old_fields_and_adds_the_new(tmp_path):
    r = runner.invoke(app, ["serve", "llama-3.1-8b", "--system", "dgx-h100", "--tp", "1", "--qps", "4", "-n", "200",
                            "--json", "--kv-policy", "on-demand", "--chunked-prefill", "--block-size", "32",
                            "--max-batched-tokens", "2048", "--disaggregate", "1:3"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for k in ("ttft_s", "tpot_s"):
        assert set(d[k]) == {"p50", "p90", "p99"}
    for k in ("tokens_per_s", "tokens_per_s_per_chip", "itl_s", "max_qps_meeting_constraints", "tokens_per_s_per_watt",
              "tokens_per_s_per_usd", "preemptions", "kv_transfer_s"):
        assert k in d
    assert d["engine"] == {"block_size": 32, "kv_policy": "on-demand", "chunked_prefill": True,
                           "max_batched_tokens": 2048, "max_seqs": 256, "disaggregate": {"prefill": 1, "decode": 3}}
    bad = runner.invoke(app, ["serve", "llama-3.1-8b", "--system", "dgx-h100", "--qps", "1", "--disaggregate", "x"])
    assert bad.exit_code == 2 and "expected P:D" in bad.output


def test_modelled_power_from_the_energy_table():
    from chiplab.serve.run import EnergyMeter
    cost = LlmCost(get_model("llama-3.1-8b"), load_system("dgx-h100"), tp=1)
    meter = EnergyMeter(cost)
    # one decode step of one sequence: reading the bf16 weights (all but the input embedding table, of which
    # one row is read) at 31 pJ/byte (h100-sxm's dram_read_per_byte) is nearly all of its energy
    # (MACs: 7.5e9 x 0.3 pJ = 2.3 mJ, 0.5 %)
    m = get_model("llama-3.1-8b")
    t = meter.step_time(1, 1, 100, 100)
    assert t == cost.step_time(1, 1, 100, 100)
    assert meter.joules == pytest.approx((m.params - m.vocab * m.hidden) * 2 * 31e-12, rel=0.02)
    # under load the chips draw more than at rest (static 90 W), and the TDP figure stays separate
    idle = serve("llama-3.1-8b", "dgx-h100", tp=1, qps=0.5, requests=100)
    busy = serve("llama-3.1-8b", "dgx-h100", tp=1, qps=40.0, requests=400)
    assert 90 < idle["modelled_chip_power_w"] < busy["modelled_chip_power_w"]
    assert busy["power_w"] == 8 * 700


def test_engine_option_errors_are_one_line(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("arrival_s,prompt_tokens,output_tokens\n0,10,5\n")
    for args, text in ((["--qps", "1", "--kv-policy", "lru"], "kv policy 'lru': expected one of reserve, on-demand"),
                       (["--trace", str(f), "--qps", "1"], "--trace fixes the arrival times"),
                       (["--trace", str(tmp_path / "none.csv")], "cannot read")):
        r = runner.invoke(app, ["serve", "llama-3.1-8b", "--system", "dgx-h100", "--tp", "1", "-n", "10", *args])
        assert r.exit_code == 2 and text in r.output and r.output.count("\n") == 1, r.output


def test_speed_bench_runs_every_feature_and_ends_with_json(load_script, monkeypatch, capsys):
    bench = load_script("bench/serve_speed.py")
    monkeypatch.setattr("sys.argv", ["serve_speed.py", "--requests", "2000", "--qps", "30", "--features"])
    bench.main()
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["requests"] == 2000 and len(last["runs"]) == 4
    assert any(run["preemptions"] > 0 for run in last["runs"].values())      # the 30,000-token cache preempts
