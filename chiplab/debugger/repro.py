"""Re-run a repro bundle and print the finding:
``python -m chiplab.debugger.repro DIR [--factory file.py:fn] [--check-export]``.

Exit status 0 when the re-run names the same top culprit as the bundle's finding, 1 otherwise,
2 on an error (one line). The bundle is read as data (:mod:`chiplab.debugger.bundle`): the model
is rebuilt from a built-in workload name or the ``--factory`` given here. ``--check-export``
also compares the rebuilt model with the bundle's ``model.pt2``; loading that program
unpickles, so use it only on a bundle you trust.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from chiplab.errors import ChiplabError


def reproduce(directory: str, factory: str | None = None, check_export: bool = False):
    from chiplab.debugger.bundle import BundleError, load_bundle
    from chiplab.debugger.core import debug

    b = load_bundle(directory, factory)
    if check_export and (p := Path(directory) / "model.pt2").exists():
        ep = torch.export.load(p)
        with torch.no_grad():
            same = torch.allclose(ep.module()(*b["inputs"]), b["model"](*b["inputs"]), rtol=1e-5, atol=1e-6)
        if not same:
            raise BundleError(f"{directory}: the rebuilt model does not match the exported program model.pt2")
    rep = debug(b["model"], b["numerics"], b["inputs"], calibration=b["calibration"], observer=b["observer"],
                overrides=b["overrides"], fixes=False, fold_bn=b["fold_bn"])
    rep.chip = b["name"] or rep.chip
    return rep, b["finding"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m chiplab.debugger.repro", description="re-run a chiplab repro bundle")
    ap.add_argument("dir")
    ap.add_argument("--factory", help="file.py:fn returning (module, inputs) that builds the bundle's model "
                                      "(needed when it is not a built-in workload; runs that file)")
    ap.add_argument("--check-export", action="store_true",
                    help="also compare with the bundle's model.pt2 (unpickles it: only for bundles you trust)")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    try:
        rep, finding = reproduce(args.dir, args.factory, args.check_export)
    except ChiplabError as e:
        if os.environ.get("CHIPLAB_DEBUG"):
            raise
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    print(rep.summary())
    want = finding["culprits"][:1]
    ok = rep.culprits[:1] == want
    print(f"expected top culprit {want}: {'reproduced' if ok else 'NOT reproduced, got ' + str(rep.culprits[:1])}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
