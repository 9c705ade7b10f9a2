"""Differentiable rasterizer in pure PyTorch (no CUDA build).

meshes (cube, icosphere, torus, load_obj) -> camera (pose, perspective projection)
-> tiled z-buffer rasterization (fast, plus a slow reference for tests) ->
attribute interpolation, texture sampling, Lambert/Phong shading -> hard or soft
(SoftRas-style) blending. ``MeshRenderer`` is the nn.Module and a chiplab
hardware block (``hw_cost``). See docs/raster.md.
"""
from .camera import (CameraError, PerspectiveCamera, axis_angle_to_matrix, euler_to_matrix, project,
                     rotation_angle_deg, transform)
from .hwcost import RasterHwError, RasterHwModel
from .mesh import Mesh, MeshError, cube, face_normals, icosphere, load_obj, torus, vertex_normals
from .rasterize import (Fragments, RasterSettings, RasterSettingsError, fragments_from_faces, pair_geometry,
                        rasterize, rasterize_reference, rasterize_reference_visibility)
from .renderer import MeshRenderer, RenderOutput, RenderSettings, RenderSettingsError, render
from .shading import (ShadingError, hard_blend, interpolate, lambert, phong, sample_texture, soft_blend,
                      vertex_to_face_attrs)

__all__ = [
    "CameraError", "PerspectiveCamera", "axis_angle_to_matrix", "euler_to_matrix", "project", "rotation_angle_deg",
    "transform", "RasterHwError", "RasterHwModel", "Mesh", "MeshError", "cube", "face_normals", "icosphere",
    "load_obj", "torus", "vertex_normals", "Fragments", "RasterSettings", "RasterSettingsError",
    "fragments_from_faces", "pair_geometry", "rasterize", "rasterize_reference", "rasterize_reference_visibility",
    "MeshRenderer", "RenderOutput", "RenderSettings", "RenderSettingsError", "render", "ShadingError",
    "hard_blend", "interpolate", "lambert", "phong", "sample_texture", "soft_blend", "vertex_to_face_attrs",
]
