"""Multi-chip systems: N chips of one kind, the links between them, the host; collective costs."""
from chiplab.system.spec import SystemFileError, SystemSpec, list_systems, load_system, parse_system

__all__ = ["SystemFileError", "SystemSpec", "list_systems", "load_system", "parse_system"]
