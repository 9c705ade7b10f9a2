"""A two-block transformer encoder classifier small enough for tests and quick runs of
``chiplab partition --numerics``. Attention takes its softmax through an ``nn.Softmax`` module,
so a placement can send the softmax (and only it) to the host and the emulator follows:

    chiplab partition examples/partition/tiny_transformer.py:factory \\
        --chip examples/partition/int8_no_softmax.yaml --host xeon-e5-2699v3 --numerics
"""
import torch
from torch import nn

DIM, HEADS, SEQ, VOCAB, CLASSES = 64, 4, 32, 100, 10


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv, self.proj, self.softmax = nn.Linear(DIM, 3 * DIM), nn.Linear(DIM, DIM), nn.Softmax(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, s, 3, HEADS, DIM // HEADS).permute(2, 0, 3, 1, 4)
        a = self.softmax(q @ k.transpose(-2, -1) * (DIM // HEADS) ** -0.5)
        return self.proj((a @ v).transpose(1, 2).reshape(b, s, DIM))


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln1, self.attn, self.ln2 = nn.LayerNorm(DIM), Attention(), nn.LayerNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(), nn.Linear(4 * DIM, DIM))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyTransformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.blocks = nn.Sequential(Block(), Block())
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.embed(ids)).mean(1))


def factory(batch: int = 1):
    torch.manual_seed(0)
    return TinyTransformer().eval(), (torch.randint(0, VOCAB, (batch, SEQ)),)
