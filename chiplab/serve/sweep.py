"""TP degree x batch x precision sweep of steady-state decode, and its Pareto front (issue #12, item 6).

``chiplab serve MODEL --system SYSTEM --sweep [--json]``. For every tensor-parallel degree ``tp`` that
divides the chip count (and the model's heads / experts), the system runs ``chips // tp`` data-parallel
replicas (pp = 1). For every batch ``B`` (running sequences per replica, 1..512 in powers of two) and
precision the chip's numerics offer, one steady-state continuous-batching step is priced with
:meth:`LlmCost.step_time` (no simulation, so the whole sweep takes well under a second):

* every running sequence decodes one token at the mean KV length ``P + O/2`` (prompt ``P``, output ``O``);
* ``B / O`` new requests per step are prefilled in the same step (each request lives ``O`` steps);
* TPOT = that step's time; tokens/s/chip = ``B / (TPOT x tp)``.

Lengths default to the simulator's MLPerf-like means (:func:`chiplab.serve.sim.poisson_workload`: output
294.45 tokens, the MLPerf Llama-2-70B reference; prompt 300, an assumption). A configuration is out of
memory when its weights do not fit (``CapacityError``) or when ``B x (P + O)`` tokens of KV do not fit
the cache left beside them (the reservation the simulator makes at admission).

Precisions: the chip's 16-bit format for weights, KV and GEMMs; each 8-bit format it supports (fp8,
int8) for all three (W8A8 with an 8-bit KV cache, as the MLPerf fp8 submissions run); and int4 weights
(weight-only, computed at 16-bit) with a 16-bit KV cache.
"""
from __future__ import annotations

from chiplab.errors import CapacityError
from chiplab.serve.cost import LlmCost, _default_precision
from chiplab.serve.models import get_model
from chiplab.system import load_system

BATCHES = tuple(2 ** i for i in range(10))       # 1 .. 512
PROMPT_MEAN, OUTPUT_MEAN = 300.0, 294.45          # as chiplab.serve.sim.poisson_workload (cited there)


def precisions(chip) -> list[tuple[str, str, str, str]]:
    """(label, weights, kv, activations) the sweep tries on ``chip``."""
    a16 = _default_precision(chip)
    out = [(a16, a16, a16, a16)]
    out += [(f, f, f, f) for f in ("fp8", "int8") if f in chip.arch.precisions]
    out.append((f"int4-w/{a16}", "int4", a16, a16))
    return out


def tp_degrees(model, count: int) -> list[int]:
    return [t for t in range(1, count + 1)
            if not count % t and not model.heads % t and not (model.experts > 1 and model.experts % t)]


def steady_step(cost: LlmCost, batch: int, prompt: float, output: float) -> float:
    """Seconds of one steady-state step with ``batch`` decoding sequences (see the module doc)."""
    ctx = prompt + output / 2
    new = batch / output
    return cost.step_time(batch + new * prompt, batch, batch * ctx + new * prompt * (prompt + 1) / 2, batch * ctx)


def sweep(model: str, system: str, *, batches=BATCHES, prompt: float = PROMPT_MEAN,
          output: float = OUTPUT_MEAN) -> dict:
    m, sysm = get_model(model), load_system(system)
    chip = sysm.chip()
    rows = []
    for tp in tp_degrees(m, sysm.count):
        for label, w, kv, act in precisions(chip):
            base = {"tp": tp, "replicas": sysm.count // tp, "precision": label, "weights": w, "kv": kv,
                    "activations": act}
            try:
                cost = LlmCost(m, sysm, tp=tp, precision=act, weights=w, kv=kv, chip=chip)
            except CapacityError:
                rows += [{**base, "batch": b, "oom": "weights", "tpot_s": None, "tokens_per_s_per_chip": None}
                         for b in batches]
                continue
            for b in batches:
                row = {**base, "batch": b, "oom": None, "tpot_s": None, "tokens_per_s_per_chip": None}
                if b * (prompt + output) > cost.kv_capacity_tokens:
                    row["oom"] = "kv"
                else:
                    t = steady_step(cost, b, prompt, output)
                    row["tpot_s"], row["tokens_per_s_per_chip"] = t, b / (t * tp)
                rows.append(row)
    front = pareto([r for r in rows if r["oom"] is None])
    for r in rows:
        r["pareto"] = any(r is f for f in front)
    return {"model": m.name, "system": sysm.name, "chip": chip.name, "chips": sysm.count,
            "prompt_mean": prompt, "output_mean": output, "rows": rows,
            "front": sorted(front, key=lambda r: r["tpot_s"])}


def pareto(rows: list[dict]) -> list[dict]:
    """Rows no other row beats on both axes (lower TPOT, higher tokens/s/chip; ties kept)."""
    best, front = -1.0, []
    for r in sorted(rows, key=lambda r: (r["tpot_s"], -r["tokens_per_s_per_chip"])):
        if r["tokens_per_s_per_chip"] > best:
            front.append(r)
            best = r["tokens_per_s_per_chip"]
        elif r["tokens_per_s_per_chip"] == best and r["tpot_s"] == front[-1]["tpot_s"]:
            front.append(r)          # an exact tie with the last front point
    return front


def print_front(out: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = out["rows"]
    oom = sum(r["oom"] is not None for r in rows)
    t = Table(title=f"{out['model']} on {out['system']} ({out['chips']} x {out['chip']}): Pareto front, "
                    f"tokens/s/chip vs TPOT (steady-state decode, prompt {out['prompt_mean']:g}, "
                    f"output {out['output_mean']:g})")
    for col in ("tp x replicas", "batch", "weights", "KV", "activations", "TPOT ms", "tokens/s/chip", "tokens/s"):
        t.add_column(col, justify="right")
    for r in out["front"]:
        tps = r["tokens_per_s_per_chip"]
        t.add_row(f"{r['tp']} x {r['replicas']}", str(r["batch"]), r["weights"], r["kv"], r["activations"],
                  f"{r['tpot_s'] * 1e3:.2f}", f"{tps:,.0f}", f"{tps * out['chips']:,.0f}")
    Console(width=160).print(t)
    print(f"{len(rows)} configurations, {oom} out of memory, {len(out['front'])} on the front")
