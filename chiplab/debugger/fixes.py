"""Fix suggestions per culprit, each checked by re-running the emulation with the fix applied.

Candidates, cheapest first: per-channel weight scales (if the weights are per-tensor), a
wider accumulator (if it overflowed), a wider operand format, keeping the layer on the host.
A fix *works* when the layer's isolated SQNR rises by at least ``gain_db`` and reaches the
median of the model's layers minus ``slack_db``, and the final output does not get worse.
"""
from __future__ import annotations

import math

from chiplab.emu.spec import MatmulNumerics, TensorNumerics
from chiplab.formats import INT_FORMATS, WIDER


def _wider(t: TensorNumerics) -> TensorNumerics | None:
    nxt = WIDER.get(t.format)
    if nxt is None:
        return None
    upd = {"format": nxt}
    if nxt not in INT_FORMATS:
        upd.update(scale="none", granularity="per_tensor" if t.granularity == "per_tensor" else t.granularity)
        if nxt.startswith("mx"):
            upd["granularity"] = "per_tensor"
    return TensorNumerics(**{**t.model_dump(), **upd})


def candidates(cfg: MatmulNumerics | None, overflowed: bool) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    if isinstance(cfg, MatmulNumerics):
        if cfg.weight.granularity == "per_tensor" and cfg.weight.format in (*INT_FORMATS, "fp8_e4m3", "fp8_e5m2"):
            w = cfg.weight.model_copy(update={"granularity": "per_channel"})
            out.append(("per-channel weight scales", cfg.model_copy(update={"weight": w})))
        if overflowed and cfg.accumulator.format == "int" and cfg.accumulator.width < 32:
            acc = cfg.accumulator.model_copy(update={"width": 32})
            out.append(("32-bit accumulator", cfg.model_copy(update={"accumulator": acc})))
        w, a = _wider(cfg.weight), _wider(cfg.activation)
        if w is not None and a is not None:
            acc = cfg.accumulator
            if w.kind == "int":
                acc = acc.model_copy(update={"width": max(acc.width, 48)})
            elif acc.format == "int":
                acc = acc.model_copy(update={"format": "fp32"})
            try:
                out.append((f"wider format ({w.format} weights, {a.format} activations)",
                            MatmulNumerics(weight=w, activation=a, accumulator=acc, output=cfg.output)))
            except ValueError:
                pass
    out.append(("keep on host (fp32)", "host"))
    return out


def suggest_and_check(session, path: str, before_db: float, final_before: dict, median_db: float,
                      gain_db: float = 6.0, slack_db: float = 6.0) -> dict:
    layer = session.emu.layers[path]
    overflowed = layer.stats.get("acc_overflow_frac", 0.0) > 0
    tried = []
    med = median_db if math.isfinite(median_db) else -math.inf
    for name, ov in candidates(layer.cfg if not layer.on_host else None, overflowed):
        emu = session.make({**session.overrides, path: ov})
        after = session.isolated(emu, path)["channel_sqnr_db"]
        final = session.final(emu)
        better_final = (final.get("metric", 0) >= final_before.get("metric", 0)) and \
            (final["sqnr_db"] >= final_before["sqnr_db"] - 0.5)
        ok = (after >= before_db + gain_db or after == math.inf) and after >= med - slack_db and better_final
        tried.append({"fix": name, "isolated_db": after, "final_sqnr_db": final["sqnr_db"], "works": ok})
        if ok:
            return {"layer": path, "fix": name, "verified": True, "before_db": before_db, "after_db": after,
                    "final_sqnr_db_before": final_before["sqnr_db"], "final_sqnr_db_after": final["sqnr_db"],
                    **({"final_metric_before": final_before["metric"], "final_metric_after": final["metric"]}
                       if "metric" in final else {}),
                    "tried": tried}
    return {"layer": path, "fix": tried[-1]["fix"] if tried else None, "verified": False, "before_db": before_db,
            "after_db": tried[-1]["isolated_db"] if tried else None, "tried": tried}
