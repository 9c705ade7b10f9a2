"""Will the model fit? Counted on the meta device before anything is allocated.

``run`` holds three fp32 copies of the weights at once: the caller's model, the emulator's copy
and the quantized weight codes of every matrix layer (kept as float32 for the fast path).
``debug`` holds two more while it checks a fix (another emulator and its codes). Activations
and the debugger's per-layer captures come on top; ``HEADROOM`` stands for them.
"""
from __future__ import annotations

import os

import torch

from chiplab.errors import CapacityError

HEADROOM = 1 << 30          # bytes kept free for activations, captures and the interpreter (our choice)


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo (Linux); else physical memory from sysconf."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def weight_bytes(model: torch.nn.Module) -> tuple[int, int]:
    """(number of parameter and buffer values, their bytes in fp32), shared tensors counted once."""
    seen, n = set(), 0
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            n += t.numel()
    return n, 4 * n


def check_fits(name: str, model: torch.nn.Module, copies: int, command: str) -> None:
    """CapacityError (one line: what is needed, what is there) when ``copies`` fp32 copies of
    ``model``'s weights plus ``HEADROOM`` exceed the memory available now."""
    n, b = weight_bytes(model)
    need = copies * b + HEADROOM
    have = available_bytes()
    if need > have:
        raise CapacityError(f"{name}: `{command}` needs about {need / 2**30:.1f} GiB ({n / 1e9:.2f}B parameters x 4 bytes "
                            f"x {copies} copies + {HEADROOM / 2**30:.0f} GiB), only {have / 2**30:.1f} GiB available")
