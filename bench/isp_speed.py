"""ISP throughput: forward+backward megapixels per second of the full pipeline, and of the
bilinear demosaic against kornia's equivalent, measured in the same run (one thread, CPU;
on a CUDA GPU too when one is present).

    OMP_NUM_THREADS=1 python bench/isp_speed.py
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from chiplab.diff.isp import Isp  # noqa: E402
from chiplab.diff.isp.functional import demosaic_bilinear  # noqa: E402


def mp_per_s(fn, x, reps=5, device="cpu"):
    times = []
    for i in range(reps + 1):
        xi = x.detach().clone().requires_grad_()
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(xi).sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        if i:                      # first call is warm-up
            times.append(time.perf_counter() - t0)
    return x.shape[0] * x.shape[-1] * x.shape[-2] / statistics.median(times) / 1e6


def main() -> int:
    torch.set_num_threads(1)
    import kornia

    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if len(devices) == 1:
        print("no CUDA GPU here: CPU only")
    for dev in devices:
        for h, w in ((256, 256), (512, 512), (1024, 1024)):
            raw = torch.rand(1, 1, h, w, device=dev)
            isp = Isp(demosaic="malvar", denoise=0.3, sharpen=0.2).to(dev)
            full = mp_per_s(isp, raw, device=dev)
            ours = mp_per_s(lambda x: demosaic_bilinear(x, "RGGB"), raw, device=dev)
            kor = mp_per_s(lambda x: kornia.color.raw_to_rgb(x, kornia.color.CFA.BG), raw, device=dev)
            rows.append({"device": dev, "size": f"{h}x{w}", "isp_fwd_bwd_MPps": full, "demosaic_ours_MPps": ours,
                         "demosaic_kornia_MPps": kor, "ours_over_kornia": ours / kor})
    print(f"{'device':6s} {'size':>10s} {'full ISP MP/s':>14s} {'bilinear ours':>14s} {'kornia':>10s} {'ratio':>7s}")
    for r in rows:
        print(f"{r['device']:6s} {r['size']:>10s} {r['isp_fwd_bwd_MPps']:14.2f} {r['demosaic_ours_MPps']:14.2f} "
              f"{r['demosaic_kornia_MPps']:10.2f} {r['ours_over_kornia']:7.2f}")
    print("forward+backward, median of 5 after one warm-up, one thread; kornia.color.raw_to_rgb is kornia's bilinear "
          "demosaic (its CFA naming differs from ours; the work is the same)")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
