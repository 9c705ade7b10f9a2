"""Re-run a repro bundle and print the finding: ``python -m chiplab.debugger.repro DIR``.

Exit status 0 when the re-run names the same top culprit as the bundle's finding, 1 otherwise.
"""
from __future__ import annotations

import sys

import torch


def reproduce(directory: str):
    from chiplab.debugger.bundle import load_bundle
    from chiplab.debugger.core import debug

    b = load_bundle(directory)
    if (p := __import__("pathlib").Path(directory) / "model.pt2").exists():
        ep = torch.export.load(p)
        with torch.no_grad():
            same = torch.allclose(ep.module()(*b["inputs"]), b["model"](*b["inputs"]), rtol=1e-5, atol=1e-6)
        if not same:
            raise RuntimeError(f"{directory}: the rebuilt model does not match the exported program model.pt2")
    rep = debug(b["model"], b["numerics"], b["inputs"], calibration=b["calibration"], observer=b["observer"],
                overrides=b["overrides"], fixes=False, fold_bn=b["fold_bn"])
    rep.chip = b["name"] or rep.chip
    return rep, b["finding"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m chiplab.debugger.repro DIR", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    rep, finding = reproduce(argv[0])
    print(rep.summary())
    want = finding["culprits"][:1]
    ok = rep.culprits[:1] == want
    print(f"expected top culprit {want}: {'reproduced' if ok else 'NOT reproduced, got ' + str(rep.culprits[:1])}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
