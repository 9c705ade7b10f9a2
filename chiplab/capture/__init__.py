"""Front ends that lower models to chiplab's IR: torch.export, ONNX, SCALE-Sim topologies."""
from chiplab.capture.onnx_import import OnnxImportError, import_onnx
from chiplab.capture.scalesim_csv import TopologyError, import_scalesim_csv
from chiplab.capture.torch_export import CaptureError, UnsupportedOpError, capture
from chiplab.capture.workloads import WorkloadError, build, list_workloads, load_graph

__all__ = ["CaptureError", "OnnxImportError", "TopologyError", "UnsupportedOpError", "WorkloadError", "build",
           "capture", "import_onnx", "import_scalesim_csv", "list_workloads", "load_graph"]
