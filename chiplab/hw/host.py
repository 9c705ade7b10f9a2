"""The ``host`` chip: the machine chiplab runs on, detected at run time.

Structure is read from the OS (``/proc/cpuinfo``, ``/sys/devices/system/cpu``,
the scheduler affinity) and tagged [D] in ``sources``; what the OS cannot tell
(DRAM bandwidth, energies, efficiencies) is an assumption [A] until ``chiplab
calibrate`` fits it to this machine's measurements.
"""
from __future__ import annotations

import os
import platform
import re
from pathlib import Path

from chiplab.hw.spec import ChipSpec


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if ":" in line:
                k, v = (x.strip() for x in line.split(":", 1))
                info.setdefault(k, v)
    except OSError:
        pass
    return info


def _cache_bytes(level: int, kind: str = "") -> float | None:
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for idx in sorted(base.glob("index*")):
        try:
            if int((idx / "level").read_text()) == level and (not kind or (idx / "type").read_text().strip() == kind):
                m = re.match(r"(\d+)([KMG]?)", (idx / "size").read_text().strip())
                if m:
                    return int(m.group(1)) * {"": 1, "K": 1024, "M": 2**20, "G": 2**30}[m.group(2)]
        except (OSError, ValueError):
            continue
    return None


def detect_host(threads: int | None = None) -> ChipSpec:
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    mhz_read = float(info.get("cpu MHz", "0") or 0)
    mhz = mhz_read or 2000.0
    # SIMD MACs per core per cycle, from the ISA (two FMA ports as on Intel cores since Haswell [A])
    fp32 = 32 if "avx512f" in flags else 16 if "fma" in flags and "avx2" in flags else 8 if "avx" in flags else 4
    rates = {"fp32": float(fp32), "bf16": float(fp32 * (2 if "avx512_bf16" in flags or "amx_bf16" in flags else 1))}
    rates["int8"] = float(fp32 * (4 if "avx512_vnni" in flags or "avx_vnni" in flags else 2))
    l1, l2, l3 = _cache_bytes(1, "Data"), _cache_bytes(2), _cache_bytes(3)
    sysfs = "[D] /sys/devices/system/cpu/cpu0/cache"
    cache_src = {"arch.l1d_per_core": sysfs if l1 else "[A] not in sysfs; 32 KiB assumed",
                 "arch.l2_per_core": sysfs if l2 else "[A] not in sysfs; 1 MiB assumed",
                 "arch.llc": sysfs if l3 else "[A] not in sysfs; L2 x cores assumed"}
    l1 = l1 or 32 * 1024
    l2 = l2 or 1024 * 1024
    l3 = l3 or l2 * cores
    name = info.get("model name", platform.processor() or "unknown CPU")
    data = {
        "chiplab_chip": 1, "name": "host", "description": f"this machine: {name}, {cores} cores usable",
        "native_precision": "fp32",
        "arch": {"kind": "cpu", "clock": mhz * 1e6, "cores": cores, "threads": threads, "simd_macs_per_core": rates,
                 "l1d_per_core": float(l1), "l2_per_core": float(l2), "llc": float(l3)},
        "memory": {"dram_bandwidth": 10e9},
        "vector": {"lanes": cores * fp32},
        "energy": {"mac": {k: 1e-12 if k == "fp32" else 0.5e-12 for k in rates}, "sram_read_per_byte": 1.25e-12,
                   "sram_write_per_byte": 1.25e-12, "dram_read_per_byte": 160e-12, "dram_write_per_byte": 160e-12,
                   "vector_op": 1e-12, "static_power": 5.0},
        "sources": {
            "arch.clock": ("[D] /proc/cpuinfo 'cpu MHz' at detection time (current, not boost)" if mhz_read
                           else "[A] /proc/cpuinfo has no 'cpu MHz'; 2 GHz assumed"),
            "arch.cores": "[D] os.sched_getaffinity: cores this process may use",
            "arch.threads": "[A] thread count given by the caller",
            "arch.simd_macs_per_core": "[D] /proc/cpuinfo ISA flags (avx2+fma: 16 fp32 MACs/cycle, avx512f: 32) [A] two FMA ports",
            **cache_src,
            "vector.lanes": "[D] cores x fp32 SIMD MACs per core (from the ISA flags above)",
            "memory.dram_bandwidth": "[A] 10 GB/s placeholder; run `chiplab measure` then `chiplab calibrate` for this machine",
            "energy": "[A] order-of-magnitude placeholders (Horowitz ISSCC 2014 45 nm scale); not measured",
        },
    }
    return ChipSpec.model_validate(data)
