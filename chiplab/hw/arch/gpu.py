"""GPUs: streaming multiprocessors with tensor cores, CUDA cores, shared memory, L2 and HBM."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from chiplab.hw.class_knobs import knob_default
from chiplab.hw.arch.base import ArchBase, Count, Rates
from chiplab.hw.quantity import Bandwidth, Bytes, Time


class GpuArch(ArchBase):
    """A GPU as the performance model needs it.

    ``tensor_macs_per_sm`` is dense tensor-core MACs (FMAs) per SM per cycle for each
    precision the tensor cores support; ``cuda_lanes_per_sm`` the FP32 lanes per SM
    that run non-matrix ops (and matrix ops in precisions the tensor cores lack, at one
    MAC per lane per cycle). A kernel computes ``tile_m × tile_n`` output tiles, one
    per CTA, ``ctas_per_sm`` CTAs resident per SM. The last three fields are the
    efficiency knobs ``chiplab calibrate`` fits to measurements.
    """

    kind: Literal["gpu"] = "gpu"
    sms: Count
    tensor_macs_per_sm: Rates
    cuda_lanes_per_sm: Count
    smem_per_sm: Bytes
    l2: Bytes
    l2_bandwidth: Bandwidth
    tile_m: Count = 128
    tile_n: Count = 128
    ctas_per_sm: Count = 1
    launch_overhead: Time = knob_default("gpu", "launch_overhead")   # class figure, cited in hw/class_knobs.yaml
    tensor_efficiency: float = Field(default=knob_default("gpu", "tensor_efficiency"), gt=0, le=1)
    dram_efficiency: float = Field(default=knob_default("gpu", "dram_efficiency"), gt=0, le=1)


    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.tensor_macs_per_sm, "fp32"]))

    def macs_per_sm(self, precision: str) -> float:
        """Tensor-core rate, or the CUDA-core FMA rate for fp32 when tensor cores lack it."""
        self.require(precision)
        return self.tensor_macs_per_sm.get(precision, float(self.cuda_lanes_per_sm))

    def peak_macs_per_cycle(self, precision: str) -> float:
        return self.sms * self.macs_per_sm(precision)
