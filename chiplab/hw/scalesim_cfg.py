"""Import a SCALE-Sim v3 ``.cfg`` as a chiplab chip.

What the cfg gives (``[architecture_presets]``): ArrayHeight/ArrayWidth (rows/cols),
Ifmap/Filter/OfmapSramSzkB (SCALE-Sim's kB are 1024 bytes, one byte per word),
Dataflow (os/ws/is); ``[run_presets] InterfaceBandwidth``: ``CALC`` (stall-free:
imported as infinite DRAM bandwidth) or ``USER`` (finite: SCALE-Sim reads the ifmap
and filter DRAM ports from ``[layout] IfmapSRAMBankBandwidth`` /
``FilterSRAMBankBandwidth`` and the ofmap port from ``Bandwidth``, in words per
cycle; imported as the arch's per-operand ``*_dram_bandwidth``).

SCALE-Sim has no clock, energy, vector unit or host link; those are assumptions
marked ``[A]`` in the chip's ``sources`` (1 GHz, int8, Horowitz 45 nm energies).
Errors are one line naming the file, section and key.
"""
from __future__ import annotations

import configparser
from pathlib import Path

from pydantic import ValidationError

from chiplab.files import MiB, check_input_file, read_text
from chiplab.hw.arch.base import MAX_COUNT
from chiplab.hw.loader import ChipFileError
from chiplab.hw.spec import ChipSpec
from chiplab.units import short

CLOCK_HZ = 1e9   # [A] SCALE-Sim counts cycles only


def chip_from_scalesim(*, name: str, rows: int, cols: int, dataflow: str, sram_kb: tuple[float, float, float],
                       mode: str = "CALC", bandwidths: tuple[float, float, float] | None = None) -> ChipSpec:
    """A ChipSpec equivalent to a SCALE-Sim configuration.

    ``bandwidths`` are (ifmap, filter, ofmap) DRAM words per cycle, used when
    ``mode == "USER"``.
    """
    if mode not in ("CALC", "USER"):
        raise ValueError(f"InterfaceBandwidth: must be CALC or USER, got {mode!r}")
    arch: dict = {"kind": "systolic", "rows": rows, "cols": cols, "dataflow": dataflow, "clock": CLOCK_HZ,
                  "macs_per_pe": {"int8": 1.0}, "ifmap_sram": sram_kb[0] * 1024, "filter_sram": sram_kb[1] * 1024,
                  "ofmap_sram": sram_kb[2] * 1024, "double_buffered": True}
    if mode == "USER":
        if bandwidths is None or any(b <= 0 for b in bandwidths):
            raise ValueError(f"Bandwidth: USER mode needs three positive bandwidths, got {bandwidths}")
        arch.update(ifmap_dram_bandwidth=float(bandwidths[0]), filter_dram_bandwidth=float(bandwidths[1]),
                    ofmap_dram_bandwidth=float(bandwidths[2]))
        dram = sum(bandwidths) * CLOCK_HZ
    else:
        dram = float("inf")
    return ChipSpec.model_validate({
        "chiplab_chip": 1, "name": name, "native_precision": "int8",
        "description": f"imported from SCALE-Sim config ({rows}x{cols} {dataflow}, {mode})",
        "arch": arch, "memory": {"dram_bandwidth": dram}, "vector": {"lanes": cols},
        "energy": {"mac": {"int8": 0.23e-12}, "sram_read_per_byte": 1.25e-12, "sram_write_per_byte": 1.25e-12,
                   "dram_read_per_byte": 160e-12, "dram_write_per_byte": 160e-12, "vector_op": 0.9e-12},
        "sources": {
            "arch.rows": "[C] SCALE-Sim config ArrayHeight", "arch.cols": "[C] SCALE-Sim config ArrayWidth",
            "arch.dataflow": "[C] SCALE-Sim config Dataflow",
            "arch.ifmap_sram": "[C] SCALE-Sim config IfmapSramSzkB (x1024 B, 1 B words)",
            "arch.clock": "[A] SCALE-Sim counts cycles only; 1 GHz assumed",
            "memory.dram_bandwidth": ("[C] SCALE-Sim USER Bandwidth (words/cycle, sum of ports)" if mode == "USER"
                                      else "[A] CALC mode is stall-free: infinite bandwidth"),
            "vector": "[A] SCALE-Sim has no vector unit; one lane per column assumed",
            "energy": "[A] Horowitz ISSCC 2014 45 nm figures assumed (SCALE-Sim has no energy model)"}})


def _get(cp: configparser.ConfigParser, path: Path, section: str, key: str, default: str | None = None) -> str:
    if not cp.has_section(section):
        if default is not None:
            return default
        raise ChipFileError(f"{path}: [{section}]: missing section")
    if not cp.has_option(section, key):
        if default is not None:
            return default
        raise ChipFileError(f"{path}: [{section}] {key}: missing required key")
    return cp.get(section, key).strip()


def _int(cp, path, section, key, default=None) -> int:
    raw = _get(cp, path, section, key, default)
    return _whole(raw, path, f"[{section}] {key}")


def _whole(raw: str, path: Path, where: str, what: str = "an integer") -> int:
    try:
        v = int(raw) if len(raw) < 30 else None
    except ValueError:
        v = None
    if v is None:
        raise ChipFileError(f"{path}: {where}: expected {what}, got {short(repr(raw))}") from None
    if v <= 0:
        raise ChipFileError(f"{path}: {where}: must be > 0, got {v}")
    if v > MAX_COUNT:
        raise ChipFileError(f"{path}: {where}: must be <= {MAX_COUNT:,} (a sanity bound), got {v:,}")
    return v


def load_scalesim_cfg(path: str | Path) -> ChipSpec:
    """Read a SCALE-Sim ``.cfg`` file into a :class:`ChipSpec` (see the module docstring)."""
    p = check_input_file(path, "SCALE-Sim config", ChipFileError, max_bytes=MiB)
    cp = configparser.ConfigParser(interpolation=None)   # '%' is data, not a %(name)s reference
    try:
        cp.read_string(read_text(p, "SCALE-Sim config", ChipFileError), source=str(p))
    except configparser.Error as e:
        raise ChipFileError(short(f"{p}: not a SCALE-Sim config ({str(e).splitlines()[0]})", 300)) from None
    sec = "architecture_presets"
    rows, cols = _int(cp, p, sec, "ArrayHeight"), _int(cp, p, sec, "ArrayWidth")
    kb = tuple(_int(cp, p, sec, k) for k in ("IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB"))
    df = _get(cp, p, sec, "Dataflow").lower()
    if df not in ("os", "ws", "is"):
        raise ChipFileError(f"{p}: [{sec}] Dataflow: must be os, ws or is, got {short(repr(df))}")
    mode = _get(cp, p, "run_presets", "InterfaceBandwidth", "CALC").upper()
    if mode not in ("CALC", "USER"):
        raise ChipFileError(f"{p}: [run_presets] InterfaceBandwidth: must be CALC or USER, got {short(repr(mode))}")
    bws = None
    if mode == "USER":
        raw = _get(cp, p, sec, "Bandwidth")
        ofmap_bw = _whole(raw.split(",")[0].strip(), p, f"[{sec}] Bandwidth", "an integer (words/cycle)")
        bws = (_int(cp, p, "layout", "IfmapSRAMBankBandwidth", str(ofmap_bw)),
               _int(cp, p, "layout", "FilterSRAMBankBandwidth", str(ofmap_bw)), ofmap_bw)
    name = _get(cp, p, "general", "run_name", p.stem) or p.stem
    try:
        return chip_from_scalesim(name=name, rows=rows, cols=cols, dataflow=df, sram_kb=kb, mode=mode, bandwidths=bws)
    except (ValidationError, ValueError) as e:
        if isinstance(e, ValidationError):
            err = e.errors()[0]
            msg = ".".join(str(x) for x in err["loc"] if x != "systolic") + ": " + err["msg"].removeprefix("Value error, ")
        else:
            msg = str(e)
        raise ChipFileError(short(f"{p}: {msg}", 300)) from None
