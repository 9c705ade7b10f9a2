"""Meshes and camera: shapes, outward normals, rotations, OBJ loading, clear errors."""
import math

import pytest
import torch

from chiplab.diff.raster import (CameraError, Mesh, MeshError, PerspectiveCamera, axis_angle_to_matrix, cube,
                                 euler_to_matrix, face_normals, icosphere, load_obj, project, rotation_angle_deg,
                                 torus, transform, vertex_normals)


@pytest.mark.parametrize("mesh,nf", [(cube(), 12), (icosphere(2), 320), (torus(n_major=8, n_minor=6), 96)])
def test_mesh_sizes_and_outward_normals(mesh, nf):
    assert mesh.faces.shape == (nf, 3)
    assert mesh.uvs is not None and mesh.uvs.min() >= 0 and mesh.uvs.max() <= 1
    n = face_normals(mesh.verts, mesh.faces)
    centroid = mesh.verts[mesh.faces].mean(1)
    if nf != 96:  # convex meshes: every face normal points away from the origin
        assert ((n * centroid).sum(-1) > 0).all()
    vn = vertex_normals(mesh.verts, mesh.faces)
    assert torch.allclose(vn.norm(dim=-1), torch.ones(len(vn)), atol=1e-5)


def test_icosphere_radius():
    m = icosphere(1, radius=2.0)
    assert torch.allclose(m.verts.norm(dim=-1), torch.full((m.verts.shape[0],), 2.0), atol=1e-5)


def test_mesh_validation_errors():
    with pytest.raises(MeshError, match="faces"):
        Mesh(torch.zeros(3, 3), torch.tensor([[0, 1, 3]]))
    with pytest.raises(MeshError, match="verts"):
        Mesh(torch.zeros(3, 2), torch.tensor([[0, 1, 2]]))
    with pytest.raises(MeshError, match="faces"):
        Mesh(torch.zeros(3, 3), torch.tensor([[0.0, 1.0, 2.0]]))
    with pytest.raises(MeshError, match="uvs"):
        Mesh(torch.zeros(3, 3), torch.tensor([[0, 1, 2]]), uvs=torch.zeros(4, 2))
    with pytest.raises(MeshError, match="subdivisions"):
        icosphere(9)


def test_load_obj(tmp_path):
    pytest.importorskip("trimesh")
    p = tmp_path / "tri.obj"
    p.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\n")
    m = load_obj(str(p))
    assert m.verts.shape == (4, 3) and m.faces.tolist() == [[0, 1, 2], [0, 1, 3]]


def test_rotations_agree_and_are_orthonormal():
    r1 = axis_angle_to_matrix(torch.tensor([0.0, 0.7, 0.0]))
    r2 = euler_to_matrix(torch.tensor(0.7), torch.tensor(0.0))
    assert torch.allclose(r1, r2, atol=1e-6)
    r = axis_angle_to_matrix(torch.randn(5, 3))
    assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3).expand(5, 3, 3), atol=1e-5)
    assert torch.isfinite(axis_angle_to_matrix(torch.zeros(3, requires_grad=True)).sum())
    ang = rotation_angle_deg(r1, axis_angle_to_matrix(torch.tensor([0.0, 0.7 + math.radians(10), 0.0])))
    assert abs(float(ang) - 10.0) < 1e-2


def test_rotvec_grad_finite_at_zero():
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    axis_angle_to_matrix(w).sum().backward()
    assert torch.isfinite(w.grad).all()


def test_projection_centre_and_errors():
    cam = PerspectiveCamera(fov_deg=90.0)
    sv = project(transform(torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]), torch.eye(3), torch.tensor([0., 0., 2.])),
                 cam, (32, 32))
    assert torch.allclose(sv[0, 0], torch.tensor([16.0, 16.0, 2.0]))
    assert torch.allclose(sv[0, 1], torch.tensor([24.0, 8.0, 2.0]))  # +y up in view, down on screen
    with pytest.raises(CameraError, match="fov_deg"):
        PerspectiveCamera(fov_deg=0)
    with pytest.raises(CameraError, match="znear"):
        PerspectiveCamera(znear=2.0, zfar=1.0)
    with pytest.raises(CameraError, match="rotation"):
        transform(torch.zeros(3, 3), torch.eye(2), torch.zeros(3))
