"""torchvision models by name: classification, segmentation and one-stage detection.

Classification and segmentation models are captured whole (a segmentation model's
``{"out": ...}`` dict is reduced to its ``out`` tensor). A detection model's
pre-processing (resize, normalise) and post-processing (box decoding, score
threshold, NMS) are data-dependent and not on the accelerator's critical path in
most deployments; chiplab captures the backbone + head on an image of the size the
model's transform resizes to, and says so in a note on the graph.
"""
from __future__ import annotations

import torch
from torch import nn

# torchvision classifiers whose default input is not 224x224 (torchvision's weight metadata: inception_v3 299x299)
INPUT_SIZE = {"inception_v3": 299}
# segmentation models: torchvision's weight transforms resize to 520 (SemanticSegmentation(resize_size=520))
SEG_SIZE = 520


class _SegOut(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


class _DetectorCore(nn.Module):
    """Backbone + head of a one-stage torchvision detector (FCOS, RetinaNet, SSD, SSDlite)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.backbone, self.head = model.backbone, model.head

    def forward(self, x: torch.Tensor) -> dict:
        feats = self.backbone(x)
        return self.head(list(feats.values()) if isinstance(feats, dict) else [feats])


def detection_note(name: str, size: int) -> str:
    return (f"{name}: backbone + head captured on {size}x{size} images; pre-processing (resize, normalise) and "
            "post-processing (box decoding, NMS) are not priced")


def build_vision(name: str, batch: int) -> tuple[nn.Module, tuple, list[str]]:
    """(model, example_inputs, notes) for any torchvision model name, weights=None."""
    import torchvision
    from torchvision import models

    from chiplab.capture.workloads import WorkloadError

    if name not in models.list_models():
        raise WorkloadError(f"torchvision:{name}: no such torchvision model")
    if name in models.list_models(module=models.detection):
        model = models.get_model(name, weights=None, weights_backbone=None).eval()
        if not hasattr(model, "head"):
            raise WorkloadError(f"torchvision:{name}: two-stage detectors (R-CNN family) have data-dependent "
                                "proposal counts and are not supported; use a one-stage detector (fcos_resnet50_fpn, "
                                "retinanet_resnet50_fpn, ssd300_vgg16, ssdlite320_mobilenet_v3_large)")
        t = model.transform
        size = int(t.fixed_size[0]) if getattr(t, "fixed_size", None) else int(t.min_size[0])
        return _DetectorCore(model), (torch.randn(batch, 3, size, size),), [detection_note(name, size)]
    if name in models.list_models(module=models.segmentation):
        model = models.get_model(name, weights=None, weights_backbone=None, aux_loss=False).eval()
        return _SegOut(model), (torch.randn(batch, 3, SEG_SIZE, SEG_SIZE),), []
    if name in models.list_models(module=models):
        s = INPUT_SIZE.get(name, 224)
        return models.get_model(name, weights=None).eval(), (torch.randn(batch, 3, s, s),), []
    raise WorkloadError(f"torchvision:{name}: only classification, segmentation and one-stage detection models "
                        f"are supported (torchvision {torchvision.__version__})")
