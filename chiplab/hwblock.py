"""Fixed-function hardware blocks as graph nodes.

A ``torch.nn.Module`` that also implements :class:`HardwareBlock` (an image signal
processor, a rasterizer) is captured by chiplab as ONE node of kind ``HW_BLOCK``
instead of being traced through, and the estimate prices it with the block's own
hardware model. That puts the camera pipeline and the network on one bill.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class HwCost:
    """Cost of one invocation of a fixed-function block on its own silicon.

    ``cycles`` are cycles of the block's own clock ``clock_hz``; ``latency_s`` is
    derived. ``energy_j`` includes the block's dynamic energy for this invocation
    (static power is charged by the estimate over the latency). ``breakdown`` maps
    stage or action names to joules for reports; ``notes`` says where figures come from.
    """

    cycles: float
    clock_hz: float
    energy_j: float
    area_mm2: float | None = None
    breakdown: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def latency_s(self) -> float:
        return self.cycles / self.clock_hz

    def __post_init__(self) -> None:
        if not (self.cycles >= 0 and self.clock_hz > 0 and self.energy_j >= 0):
            raise ValueError(f"HwCost: cycles={self.cycles}, clock_hz={self.clock_hz}, energy_j={self.energy_j} must be >= 0 (clock > 0)")


@runtime_checkable
class HardwareBlock(Protocol):
    """Implemented by modules that are fixed-function hardware.

    ``hw_cost`` receives the shapes of the tensors passed to ``forward`` (batch
    included) and returns the cost of one call. It must not allocate real tensors,
    so it works during meta-device capture.
    """

    hw_block_name: str

    def hw_cost(self, input_shapes: Sequence[tuple[int, ...]]) -> HwCost: ...
