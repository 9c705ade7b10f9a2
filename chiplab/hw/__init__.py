"""Chip descriptions: typed spec, strict loader, presets (data files citing sources)."""
from chiplab.hw.loader import ChipFileError, list_presets, load_chip, load_chip_file, parse_chip
from chiplab.hw.spec import PRECISIONS, CapabilityError, ChipSpec, SystolicArch

__all__ = ["CapabilityError", "ChipFileError", "ChipSpec", "PRECISIONS", "SystolicArch", "list_presets",
           "load_chip", "load_chip_file", "parse_chip"]
