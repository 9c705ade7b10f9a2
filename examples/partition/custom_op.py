"""A small CNN with a custom op no accelerator has a kernel for, for ``chiplab partition``.

``lut_activation`` is registered with ``torch.library`` (as a vendor's lookup-table activation
would be); chiplab captures it with ``--allow-unsupported`` and it must run on the host:

    chiplab partition examples/partition/custom_op.py:factory --chip tpu-v1 --host xeon-e5-2699v3 \\
        --allow-unsupported
"""
import torch
from torch import nn


@torch.library.custom_op("chiplab_example::lut_activation", mutates_args=())
def lut_activation(x: torch.Tensor) -> torch.Tensor:
    return x * torch.tanh(x)   # stands in for a table lookup


@lut_activation.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class CustomOpNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(_block(3, 32, 2), _block(32, 32), _block(32, 64, 2))
        self.body = nn.Sequential(_block(64, 64), _block(64, 128, 2), _block(128, 128))
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = lut_activation(self.stem(x))
        x = self.body(x).mean((2, 3))
        return torch.softmax(self.head(x), -1)


def factory(batch: int = 1):
    return CustomOpNet().eval(), (torch.randn(batch, 3, 128, 128),)
