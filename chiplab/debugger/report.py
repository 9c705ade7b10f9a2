"""The debugger's report: culprits worst first, per-layer errors in three views, fixes, bundle."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any


def _clean(v: Any) -> Any:
    """JSON-safe: +-inf and NaN become the strings "inf", "-inf", "nan"."""
    if isinstance(v, float) and (math.isinf(v) or math.isnan(v)):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


@dataclass
class DebugReport:
    chip: str
    culprits: list[str]
    layers: list[dict]
    final: dict
    bisection: dict
    fallbacks: list[dict] = field(default_factory=list)
    folded: list[dict] = field(default_factory=list)
    median_isolated_channel_sqnr_db: float = math.nan
    fixes: list[dict] = field(default_factory=list)
    bundle: str | None = None
    warnings: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)

    def layer(self, path: str) -> dict:
        for r in self.layers:
            if r["layer"] == path:
                return r
        raise KeyError(f"no layer {path!r} in the report")

    def to_dict(self) -> dict:
        return _clean({"chip": self.chip, "culprits": self.culprits, "final": self.final, "bisection": self.bisection,
                       "median_isolated_channel_sqnr_db": self.median_isolated_channel_sqnr_db, "fixes": self.fixes,
                       "fallbacks": self.fallbacks, "folded_batchnorm": self.folded, "bundle": self.bundle,
                       "warnings": self.warnings, "unused_layers": self.unused, "layers": self.layers})

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def summary(self) -> str:
        if "degenerate_reference" in self.final:
            lines = [f"chip {self.chip}: the fp32 reference output is degenerate ({self.final['degenerate_reference']}); "
                     f"SQNR/cosine are not meaningful (max |err| {self.final['max_abs_err']})"]
        else:
            lines = [f"chip {self.chip}: final output SQNR {self.final['sqnr_db']} dB, cosine {self.final['cosine']}"]
        for k, v in self.final.get("leaves", {}).items():
            lines.append(f"  output {k}: " + (f"degenerate reference ({v['degenerate_reference']})"
                                              if "degenerate_reference" in v else f"SQNR {v['sqnr_db']} dB, cosine {v['cosine']}"))
        lines += [f"warning: {w}" for w in self.warnings]
        if not self.culprits:
            lines.append("no culprit: every layer's isolated error is within the usual range")
        for p in self.culprits:
            r = self.layer(p)
            lines.append(f"  {p:28s} isolated {r['isolated']['sqnr_db']:>7} dB (channel-normalized "
                         f"{r['isolated']['channel_sqnr_db']:>7} dB)  propagated {r['propagated']['sqnr_db']:>7} dB  {r['where']}")
        for f in self.fixes:
            ok = "works" if f.get("verified") else "not verified"
            lines.append(f"  fix {f['layer']}: {f.get('fix')} ({ok}: isolated {f.get('before_db')} -> {f.get('after_db')} dB)")
        if self.bundle:
            from pathlib import Path
            readme = Path(self.bundle) / "README.txt"
            cmd = readme.read_text().splitlines()[0].removeprefix("Reproduce: ") if readme.exists() else \
                f"python -m chiplab.debugger.repro {self.bundle}"
            lines.append(f"repro: {cmd}")
        return "\n".join(lines)
