"""Front ends that lower models to chiplab's IR: torch.export, ONNX, SCALE-Sim topologies.

Names are imported on first use (PEP 562 ``__getattr__``), so importing
``chiplab.capture.scalesim_csv`` does not import torch."""
import importlib

_WHERE = {"OnnxImportError": "onnx_import", "import_onnx": "onnx_import",
          "TopologyError": "scalesim_csv", "import_scalesim_csv": "scalesim_csv",
          "CaptureError": "torch_export", "UnsupportedOpError": "torch_export", "capture": "torch_export",
          "WorkloadError": "workloads", "build": "workloads", "list_workloads": "workloads", "load_graph": "workloads"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"chiplab.capture.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'chiplab.capture' has no attribute {name!r}")


__all__ = ["CaptureError", "OnnxImportError", "TopologyError", "UnsupportedOpError", "WorkloadError", "build",
           "capture", "import_onnx", "import_scalesim_csv", "list_workloads", "load_graph"]
