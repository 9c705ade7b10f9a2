"""What ``chiplab measure`` times: a GEMM sweep, convolutions, attention, and whole
models (ResNet-50, BERT-base), each row with the shapes chiplab needs to predict it.

The CSV starts with ``# key: value`` provenance lines (device, versions, threads,
date, command); read it with ``pandas.read_csv(path, comment="#")``.
"""
from __future__ import annotations

import datetime as dt
import io
import os
import platform
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from chiplab.errors import ChiplabError
from chiplab.measure.timing import rotation_count, time_call

GEMMS_QUICK = [(64, 64, 64), (128, 128, 128), (256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (64, 1024, 1024),
               (1024, 64, 1024), (1024, 1024, 64), (256, 4096, 256), (4096, 256, 256), (128, 768, 768),
               (128, 3072, 768), (128, 768, 3072), (512, 2048, 512), (2048, 512, 2048), (32, 4096, 4096),
               (49, 512, 4608), (196, 256, 2304), (784, 128, 1152), (3136, 64, 576)]
GEMMS_FULL = GEMMS_QUICK + [(m, n, k) for m in (96, 384, 1536) for n in (96, 768, 3072) for k in (96, 768, 3072)]
# (N, C, H, K, R, stride): ResNet-50-like layers at batch 1
CONVS = [(1, 3, 224, 64, 7, 2), (1, 64, 56, 64, 1, 1), (1, 64, 56, 64, 3, 1), (1, 64, 56, 256, 1, 1),
         (1, 128, 28, 128, 3, 1), (1, 256, 14, 256, 3, 1), (1, 512, 7, 512, 3, 1), (1, 256, 56, 128, 1, 2),
         (1, 1024, 14, 256, 1, 1), (1, 32, 112, 32, 3, 1)]
# (batch, heads, L, d)
ATTENTION = [(1, 12, 128, 64), (1, 12, 512, 64), (4, 8, 256, 64)]
MODELS = [("resnet50", 1, None), ("bert-base", 1, 128)]
KINDS = ("gemm", "conv", "attention", "model")


@dataclass
class Row:
    kind: str                  # gemm | conv | attention | model
    name: str
    M: int = 0
    N: int = 0
    K: int = 0
    batch: int = 1
    C: int = 0
    H: int = 0
    R: int = 0
    stride: int = 1
    seq_len: int = 0
    dtype: str = "float32"
    median_s: float = 0.0
    p10_s: float = 0.0
    p90_s: float = 0.0
    reps: int = 0
    macs: int = 0
    extra: dict = field(default_factory=dict)


def provenance(device: str, threads: int, command: str) -> dict[str, str]:
    p = {"device": device, "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
         "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
         "threads": str(threads), "command": command, "host": platform.node() or "unknown"}
    if device.startswith("cuda"):
        p["device_name"] = torch.cuda.get_device_name(0)
        p["cuda"] = str(torch.version.cuda)
        p["driver"] = _nvidia_driver()
    else:
        from chiplab.hw.host import _cpuinfo

        p["device_name"] = _cpuinfo().get("model name", platform.processor() or "unknown CPU")
        p["note"] = "shared 2-core VM; other processes may run concurrently (medians reported)"
    return p


def _nvidia_driver() -> str:
    try:
        import subprocess

        return subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, ValueError):
        return "unknown"


def run_sweep(device: str = "cpu", *, quick: bool = True, reps: int = 10, models: bool = True,
              cache_bytes: float = 32 * 2**20, progress=None, skip: frozenset[str] = frozenset()) -> Iterator[Row]:
    """Yield one measured :class:`Row` per kernel or model; rows named in ``skip`` (already
    measured by an interrupted run) are not measured again."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ChiplabError("chiplab measure: --device cuda but no CUDA GPU is available")
    dt_ = torch.float32
    dev = torch.device(device)
    gemms = GEMMS_QUICK if quick else GEMMS_FULL
    total = len(gemms) + len(CONVS) + len(ATTENTION) + (len(MODELS) if models else 0)
    done = 0

    def tick(name: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, name)

    for (M, N, K) in gemms:
        if f"gemm_{M}x{N}x{K}" in skip:
            tick(f"gemm {M}x{N}x{K} (done before)")
            continue
        n = rotation_count(4 * (M * K + K * N + M * N), cache_bytes)
        ins = [(torch.randn(M, K, device=dev, dtype=dt_), torch.randn(K, N, device=dev, dtype=dt_)) for _ in range(n)]
        t = time_call(torch.mm, ins, device=device, reps=reps)
        yield Row("gemm", f"gemm_{M}x{N}x{K}", M=M, N=N, K=K, median_s=t.median_s, p10_s=t.p10_s, p90_s=t.p90_s,
                  reps=t.reps, macs=M * N * K)
        tick(f"gemm {M}x{N}x{K}")
    for (Nb, C, H, K, R, s) in CONVS:
        if f"conv_c{C}_h{H}_k{K}_r{R}_s{s}" in skip:
            tick(f"conv c{C} h{H} k{K} r{R} (done before)")
            continue
        w = torch.randn(K, C, R, R, device=dev, dtype=dt_)
        xb = 4 * Nb * C * H * H
        n = rotation_count(xb, cache_bytes)
        ins = [(torch.randn(Nb, C, H, H, device=dev, dtype=dt_),) for _ in range(n)]
        P = (H + 2 * (R // 2) - R) // s + 1
        t = time_call(lambda x: F.conv2d(x, w, stride=s, padding=R // 2), ins, device=device, reps=reps)
        yield Row("conv", f"conv_c{C}_h{H}_k{K}_r{R}_s{s}", N=K, K=C * R * R, M=Nb * P * P, batch=Nb, C=C, H=H, R=R,
                  stride=s, median_s=t.median_s, p10_s=t.p10_s, p90_s=t.p90_s, reps=t.reps, macs=Nb * P * P * K * C * R * R)
        tick(f"conv c{C} h{H} k{K} r{R}")
    for (b, h, L, d) in ATTENTION:
        if f"sdpa_b{b}_h{h}_l{L}_d{d}" in skip:
            tick(f"attention b{b} h{h} L{L} (done before)")
            continue
        n = rotation_count(4 * 3 * b * h * L * d, cache_bytes)
        ins = [tuple(torch.randn(b, h, L, d, device=dev, dtype=dt_) for _ in range(3)) for _ in range(n)]
        t = time_call(F.scaled_dot_product_attention, ins, device=device, reps=reps)
        yield Row("attention", f"sdpa_b{b}_h{h}_l{L}_d{d}", M=L, N=L, K=d, batch=b * h, median_s=t.median_s,
                  p10_s=t.p10_s, p90_s=t.p90_s, reps=t.reps, macs=2 * b * h * L * L * d)
        tick(f"attention b{b} h{h} L{L}")
    if models:
        from chiplab.capture import build

        for name, batch, seq in MODELS:
            if name in skip:
                tick(f"{name} (done before)")
                continue
            model, inputs = build(name, batch=batch, seq_len=seq, device=device)
            t = time_call(model, [inputs], device=device, reps=max(3, reps // 3), max_seconds=20.0)
            yield Row("model", name, batch=batch, seq_len=seq or 0, median_s=t.median_s, p10_s=t.p10_s,
                      p90_s=t.p90_s, reps=t.reps)
            tick(name)


def write_csv(rows: list, path: Path, prov: dict[str, str]) -> None:
    """Write (atomically: a temporary file of this process, renamed over ``path``) rows given
    as :class:`Row` or dicts, under ``# key: value`` provenance lines."""
    import tempfile

    import pandas as pd

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame([r if isinstance(r, dict) else {k: v for k, v in asdict(r).items() if k != "extra"} for r in rows])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            for k, v in prov.items():
                f.write(f"# {k}: {v}\n")
            df.to_csv(f, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def output_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``.<name>.lock`` beside ``path`` (the CSV itself is
    replaced by rename, so it cannot carry the lock) for as long as the block runs. A second
    ``chiplab measure`` on the same file gets a one-line :class:`ChiplabError` instead of
    measuring every row again beside the first. Without ``fcntl`` (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            who = f.read().strip() or "another process"
            raise ChiplabError(f"{path}: {who} is measuring into it (lock {lock.name}); wait for it to finish "
                               "or use another --out") from None
        f.seek(0)
        f.truncate()
        f.write(f"chiplab measure (pid {os.getpid()})")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_csv(path: Path):
    """(rows DataFrame, provenance dict). Rows not written in full (a missing field, a
    truncated last line, an unknown kind, no positive time) are left out and named in
    ``df.attrs["invalid_rows"]``, so a resumed run measures them again."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise ChiplabError(f"{p}: no such measurement file")
    prov = {}
    for line in p.read_text().splitlines():
        if not line.startswith("#"):
            break
        k, _, v = line[1:].partition(":")
        prov[k.strip()] = v.strip()
    text = p.read_text()
    try:
        df = pd.read_csv(io.StringIO(text), comment="#")
    except pd.errors.ParserError as e:
        raise ChiplabError(f"{p}: not a readable CSV ({str(e).splitlines()[0]})") from None
    missing = {"kind", "name", "median_s"} - set(df.columns)
    if missing:
        raise ChiplabError(f"{p}: not a chiplab measurement CSV (missing columns {sorted(missing)})")
    bad = ~_complete(df)
    if text and not text.endswith("\n") and len(df):   # cut off inside its last line
        bad.iloc[-1] = True
    df.attrs["invalid_rows"] = df.loc[bad, "name"].astype(str).tolist()
    return df.loc[~bad].reset_index(drop=True), prov


def _complete(df):
    """Rows a run wrote in full: every column filled, a known kind, a positive finite time."""
    import numpy as np
    import pandas as pd

    t = pd.to_numeric(df["median_s"], errors="coerce")
    return df.notna().all(axis=1) & df["kind"].isin(KINDS) & np.isfinite(t) & (t > 0)


def default_threads() -> int:
    return int(os.environ.get("CHIPLAB_MEASURE_THREADS", "1"))
