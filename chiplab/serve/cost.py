"""Per-step cost of serving a decoder-only LLM on a group of chips (tensor x pipeline parallel).

One engine step runs every scheduled sequence through the model once: new prompts (prefill,
P tokens each) and running sequences (decode, one token each at KV length L). Work per layer
type, for the whole step, priced per chip with a roofline (max of compute and DRAM time, taken
per layer type):

* GEMMs (Q/K/V/O projections, MLP or active MoE experts, LM head): MACs = tokens x parameters;
  weights are read once per step (the batch shares them). Megatron tensor parallelism splits every
  matrix over ``tp`` chips, so the per-chip MACs are exactly 1/tp of the unsplit MACs.
* Attention scores: 2 x heads x head_dim MACs per query-key pair (QK^T and AV); a prefill of P has
  P(P+1)/2 pairs (causal), a decode at KV length L has L. KV bytes: decode reads L tokens of KV,
  every new token writes one; with tp > kv_heads the KV heads are replicated.
* Communication (Megatron-style): 2 all-reduces of the step's activations per layer (after
  attention and after the MLP), at the system link's α and per-direction bandwidth; MoE layers
  replace the MLP all-reduce by two all-to-alls (dispatch, combine) over the tp group (expert
  parallel = tp). Pipeline stages add one point-to-point of the activations per stage boundary.

* Non-GEMM (vector) work, priced on the chip's vector unit (``vector.lanes`` x its clock) and DRAM
  (roofline: max of the two): per layer and token, two RMSNorm/LayerNorm, two residual adds and the
  MLP activation (SwiGLU / GELU) each read their inputs from and write their output to DRAM in
  16-bit (unfused: an upper bound [A]); rotary embedding on Q and K (read + write); softmax over the
  KV length, ``SOFTMAX_OPS`` vector ops per query-key pair and head, with no DRAM traffic (fused into
  the attention kernel, flash-attention style); sampling reads and writes the fp32 logits of every
  sequence's vocabulary once. Norms and residual adds run on the full hidden state on every chip of
  the tp group (Megatron replicates them); rotary, activation and softmax split over tp.
* MoE routing (vector work, issue #12): per MoE layer and token, the router's softmax + top-k over the
  ``experts`` logits (``SOFTMAX_OPS`` each, replicated); the dispatch copies the token's hidden row once per
  chosen expert (read + write ``k x hidden``) and the combine reads the ``k`` expert outputs back and writes
  their router-weighted sum (read ``k x hidden``, write ``hidden``; 2 ops per element read), in 16-bit; the
  ``k x hidden`` rows split over the expert-parallel (= tp) group. This is TensorRT-LLM's MoE runner
  (NVIDIA/TensorRT-LLM ``cpp/tensorrt_llm/kernels/mixtureOfExperts/moe_kernels.cu``, ``CutlassMoeFCRunner::runMoe``:
  ``expandInputRowsKernel`` "duplicates and permutes rows", ``finalizeMoeRoutingKernel`` "unpermutes the
  original data, does the k-way reduction"). Expert GEMMs: every expert touched in the step has its weights
  read once (all of them at large batch); MACs are the tokens x top-k active experts, at the dense GEMM
  efficiency (a grouped GEMM's per-expert M = tokens x k / experts is not priced separately).
* Launch overhead: ``KERNELS_PER_LAYER`` kernels per layer (MoE layers: ``MOE_EXTRA_KERNELS`` more), each
  ``arch.launch_overhead`` (the GPU class knob in chiplab/hw/class_knobs.yaml; chips without one: 0), per step.

Formats (issue #12): ``precision`` is the activation precision (default the chip's bf16/fp16);
``weights`` and ``kv`` are storage formats (``bf16 fp16 fp8 int8 int4``, default: ``precision``), each
priced at its bytes per element (int4 = 0.5 B; its group scales are left out). A GEMM runs at the wider
of its two operands (weights x activations; attention: KV x activations); int4 is weight/KV-only (no
preset has int4 MACs): it is dequantized and computed at the activation precision. A format outside the
chip's numerics (``arch.precisions``; int4 storage excepted) is a one-line ``CapabilityError``.

Pipeline parallelism (GPipe schedule, Huang et al. 2019, arXiv:1811.06965): a step's sequences are split
into ``m`` micro-batches that flow through the ``pp`` stages, so the step takes the stages' times on one
micro-batch plus ``m - 1`` times the slowest one (``(m + pp - 1)`` stage times when balanced; the last
stage also runs the LM head and sampling, the others hand off). Each micro-batch reads the stage's
weights again, so a memory-bound decode gains nothing from splitting; unless ``micro_batches`` is
given, each step takes the best ``m`` among 1, 2, 4, ... up to ``4 pp`` and the step's sequence count
(``m = 1`` is the stages run one after the other).
Activations travel in 16-bit. Efficiencies are the chip's ``tensor_efficiency`` / ``dram_efficiency``.
"""
from __future__ import annotations

from dataclasses import dataclass

from chiplab.errors import CapacityError, ChiplabError
from chiplab.hw.arch.base import CapabilityError
from chiplab.hw.spec import ChipSpec
from chiplab.serve.models import LlmConfig
from chiplab.system import collectives as coll
from chiplab.system.spec import SystemSpec

BYTES = {"int4": 0.5, "int8": 1, "fp8": 1, "bf16": 2, "fp16": 2, "tf32": 4, "fp32": 4}
ACT_BYTES = 2                 # activations exchanged between chips in 16-bit
MEMORY_RESERVE = 0.9          # [A] share of DRAM usable for weights + KV (the rest: runtime, activations)
LOGIT_BYTES = 4               # [A] logits kept in fp32 for sampling
# [A] vector ops per element: RMSNorm (square, sum, scale, weight) 4; residual add 1; rotary
# (2 multiplies, 1 add) 3; SwiGLU/GELU with its product 4; softmax (max, subtract, exp, sum,
# scale) 5 per score; sampling (softmax + top-k pass over the vocabulary) 5 per logit.
NORM_OPS, ADD_OPS, ROPE_OPS, ACT_OPS, SOFTMAX_OPS, SAMPLE_OPS = 4, 1, 3, 4, 5, 5
# [A] kernels per layer in one engine step: norm, QKV GEMM, attention (rotary fused), O GEMM,
# all-reduce, residual + norm, gate/up GEMM, activation, down GEMM, all-reduce.
KERNELS_PER_LAYER = 10
# [C] MoE layer: the dense MLP's 3 kernels (gate/up GEMM, activation, down GEMM) become the router GEMM plus
# runMoe's 10 launches on Hopper (topkGatingSoftmax, sort, computeTotalRowsBeforeExpert, expandInputRows,
# computeStridesHopper, grouped fc1 GEMM, doActivation, computeStridesHopper, grouped fc2 GEMM,
# finalizeMoeRouting; TensorRT-LLM moe_kernels.cu, the CUB sort counted as one): 11 - 3 = 8 more.
MOE_EXTRA_KERNELS = 8
FORMATS = ("bf16", "fp16", "fp8", "int8", "int4")   # --weights / --kv choices
STORAGE_ONLY = {"int4"}       # stored and dequantized; no chip preset has int4 MACs


@dataclass(frozen=True)
class Work:
    """What one step asks of one chip: MACs and DRAM bytes by layer type, and link time."""
    gemm_macs: float
    gemm_bytes: float
    attn_macs: float
    attn_bytes: float
    comm_s: float
    vec_ops: float = 0.0          # non-GEMM element operations (norms, rotary, softmax, adds, sampling)
    vec_bytes: float = 0.0        # their DRAM traffic
    launch_s: float = 0.0         # kernel launch overhead of the step


class LlmCost:
    def __init__(self, model: LlmConfig, system: SystemSpec, *, tp: int = 1, pp: int = 1,
                 precision: str | None = None, chip: ChipSpec | None = None, weights: str | None = None,
                 kv: str | None = None, micro_batches: int | None = None) -> None:
        self.model, self.system, self.tp, self.pp = model, system, tp, pp
        self.chip = chip or system.chip()
        if tp < 1 or pp < 1 or tp * pp > system.count:
            raise ChiplabError(f"--tp {tp} x --pp {pp} = {tp * pp} chips, but {system.name} has {system.count}")
        if model.heads % tp:
            raise ChiplabError(f"--tp {tp} does not divide {model.name}'s {model.heads} attention heads")
        if model.layers % pp:
            raise ChiplabError(f"--pp {pp} does not divide {model.name}'s {model.layers} layers")
        if model.experts > 1 and model.experts % tp:
            raise ChiplabError(f"--tp {tp} does not divide {model.name}'s {model.experts} experts (expert parallel = tp)")
        self.precision = precision or _default_precision(self.chip)          # activations
        self.chip.arch.require(self.precision, self.chip.name)
        self.weights = _format(self.chip, weights or self.precision, "weights")
        self.kv = _format(self.chip, kv or self.precision, "kv")
        self.gemm_precision = _compute(self.chip, self.weights, self.precision)
        self.attn_precision = _compute(self.chip, self.kv, self.precision)
        if micro_batches is not None and micro_batches < 1:
            raise ChiplabError(f"micro_batches must be >= 1, got {micro_batches}")
        self.micro_batches = micro_batches
        self.replicas = system.count // (tp * pp)
        self.wbytes, self.kvbytes = BYTES[self.weights], BYTES[self.kv]
        arch = self.chip.arch
        eff = getattr(arch, "tensor_efficiency", 1.0)
        self.peak = self.chip.peak_macs_per_s(self.gemm_precision) * eff
        self.attn_peak = self.chip.peak_macs_per_s(self.attn_precision) * eff
        self.bw = self.chip.memory.dram_bandwidth * getattr(arch, "dram_efficiency", 1.0)
        self.vector_rate = self.chip.vector.lanes * self.chip.vector_clock_hz
        self.launch_overhead = float(getattr(arch, "launch_overhead", 0.0) or 0.0)
        m = model
        self.kv_shards = min(tp, m.kv_heads)
        self.kv_bytes_per_token = 2 * m.layers * m.kv_dim * self.kvbytes          # all layers, unsplit
        self.kv_bytes_per_token_chip = self.kv_bytes_per_token / (self.kv_shards * pp)
        self.weight_bytes_chip = m.params * self.wbytes / (tp * pp)
        self._check_capacity()

    # ---- memory -------------------------------------------------------------------------
    def _check_capacity(self) -> None:
        cap = self.chip.memory.dram_capacity
        if cap is None:
            raise ChiplabError(f"{self.chip.name}: memory.dram_capacity is not given; cannot place {self.model.name}")
        usable = cap * MEMORY_RESERVE
        if self.weight_bytes_chip > usable:
            raise CapacityError(
                f"{self.chip.name}: {self.model.name} ({self.weights}) weights need {self.weight_bytes_chip / 1e9:.1f} GB "
                f"per chip with tp={self.tp}, pp={self.pp}, but {MEMORY_RESERVE:.0%} of {cap / 2**30:.0f} GiB is "
                f"{usable / 1e9:.1f} GB (short by {(self.weight_bytes_chip - usable) / 1e9:.1f} GB; raise --tp, or store weights in fewer bits: --weights int8 or fp8 where the chip has it)")
        self.kv_capacity_tokens = int((usable - self.weight_bytes_chip) / self.kv_bytes_per_token_chip)

    # ---- work ---------------------------------------------------------------------------
    def work(self, n_tok: float, n_out: float, pairs: float, kv_read_tokens: float, *, layers: int | None = None,
             hand_offs: int | None = None) -> Work:
        """Per-chip work of one step: ``n_tok`` tokens through the model, ``n_out`` of them through the
        LM head (one per sequence; no LM head, nor its weights, when 0), ``pairs`` query-key pairs,
        ``kv_read_tokens`` tokens of KV read. ``layers`` (default all) and ``hand_offs`` (default
        ``pp - 1``) price one pipeline stage."""
        m, t = self.model, self.tp
        h = m.hidden
        L = m.layers if layers is None else layers
        gemm_unsplit, attn_unsplit = step_macs(m, n_tok, n_out, pairs, L)
        gemm_macs = gemm_unsplit / t
        experts_hit = m.experts * (1 - (1 - m.experts_per_token / m.experts) ** n_tok) if m.experts > 1 else 1
        weights = L * (m.attn_params + experts_hit * m.mlp_params_per_expert + m.router_params) + (m.vocab * h if n_out else 0)
        gemm_bytes = weights * self.wbytes / t
        attn_macs = attn_unsplit / t
        attn_bytes = (kv_read_tokens + n_tok) * self.kv_bytes_per_token * (L / m.layers) / self.kv_shards
        vec_ops, vec_bytes = self.vector_work(n_tok, n_out, pairs, L)
        kernels = KERNELS_PER_LAYER + (MOE_EXTRA_KERNELS if m.experts > 1 else 0)
        launch = L * kernels * self.launch_overhead if n_tok else 0.0
        comm = self.comm_time(n_tok, L, hand_offs)
        return Work(gemm_macs, gemm_bytes, attn_macs, attn_bytes, comm, vec_ops, vec_bytes, launch)

    def vector_work(self, n_tok: float, n_out: float, pairs: float, layers: int | None = None) -> tuple[float, float]:
        """Per-chip non-GEMM element operations and DRAM bytes of one step (see the module doc)."""
        m, t = self.model, self.tp
        L = m.layers if layers is None else layers
        h = m.hidden
        act = (2 if m.gated_mlp else 1) * m.intermediate * m.experts_per_token / t   # activation inputs
        # per token and layer: (elements, ops per element, elements read + written)
        norms = (2 * h, NORM_OPS, 2 * 2 * h)
        adds = (2 * h, ADD_OPS, 2 * 3 * h)
        rope = ((m.q_dim + m.kv_dim) / t, ROPE_OPS, 2 * (m.q_dim + m.kv_dim) / t)
        mlp_act = (act, ACT_OPS, act + act / (2 if m.gated_mlp else 1))
        terms = [norms, adds, rope, mlp_act]
        if m.experts > 1:          # MoE routing (module doc): router softmax/top-k, dispatch, combine
            kh = m.experts_per_token * h / t
            terms += [(m.experts, SOFTMAX_OPS, 0), (0, 0, 2 * kh), (kh, 2, kh + h)]
        per_tok_ops = sum(e * k for e, k, _ in terms)
        per_tok_bytes = sum(b for _, _, b in terms) * ACT_BYTES
        ops = n_tok * L * per_tok_ops + pairs * L * (m.heads / t) * SOFTMAX_OPS
        ops += n_out * m.vocab * SAMPLE_OPS
        nbytes = n_tok * L * per_tok_bytes + n_out * m.vocab * 2 * LOGIT_BYTES
        return ops, nbytes

    def comm_time(self, n_tok: float, layers: int | None = None, hand_offs: int | None = None) -> float:
        """Link time of ``layers`` layers' collectives (default all) and ``hand_offs`` stage-to-stage
        point-to-points (default ``pp - 1``)."""
        link, t, m = self.system.link, self.tp, self.model
        L = m.layers if layers is None else layers
        k = self.pp - 1 if hand_offs is None else hand_offs
        act = n_tok * m.hidden * ACT_BYTES
        ar = coll.all_reduce(act, t, link.bandwidth, link.latency)
        if m.experts > 1:
            a2a = coll.all_to_all(act * m.experts_per_token / t, t, link.bandwidth, link.latency, link.topology, link.dims)
            per_layer = ar + 2 * a2a
        else:
            per_layer = 2 * ar
        p2p = coll.point_to_point(act, link.bandwidth, link.latency) if self.pp > 1 and k else 0.0
        return L * per_layer + k * p2p

    def time(self, w: Work) -> float:
        return (max(w.gemm_macs / self.peak, w.gemm_bytes / self.bw)
                + max(w.attn_macs / self.attn_peak, w.attn_bytes / self.bw)
                + max(w.vec_ops / self.vector_rate, w.vec_bytes / self.bw) + w.comm_s + w.launch_s)

    def pipeline_time(self, n_tok: float, n_out: float, pairs: float, kv_read_tokens: float, m: int) -> float:
        """GPipe: ``m`` equal micro-batches through the ``pp`` stages take the sum of the stages' times on
        one micro-batch plus ``m - 1`` times the slowest (``(m + pp - 1)`` stage times when balanced). The
        first ``pp - 1`` stages hold ``layers / pp`` layers and hand off; the last adds the LM head."""
        q = (n_tok / m, n_out / m, pairs / m, kv_read_tokens / m)
        L = self.model.layers // self.pp
        mid = self.time(self.work(q[0], 0, q[2], q[3], layers=L, hand_offs=1))
        last = self.time(self.work(*q, layers=L, hand_offs=0))
        return (self.pp - 1) * mid + last + (m - 1) * max(mid, last)

    def micro_batch_choices(self, n_seqs: float) -> list[int]:
        most = max(1, int(n_seqs))
        if self.micro_batches is not None:
            return [min(self.micro_batches, most)]
        out, m = [], 1
        while m <= min(4 * self.pp, most):
            out.append(m)
            m *= 2
        return out

    def step_time(self, n_tok: float, n_out: float, pairs: float, kv_read_tokens: float) -> float:
        if not n_tok:
            return 0.0
        if self.pp == 1:
            return self.time(self.work(n_tok, n_out, pairs, kv_read_tokens))
        return min(self.pipeline_time(n_tok, n_out, pairs, kv_read_tokens, m) for m in self.micro_batch_choices(n_out))

    # ---- single requests ----------------------------------------------------------------
    def prefill(self, prompt: int, batch: int = 1) -> Work:
        return self.work(batch * prompt, batch, batch * prompt * (prompt + 1) / 2, 0)

    def decode(self, kv_len: int, batch: int = 1) -> Work:
        return self.work(batch, batch, batch * kv_len, batch * kv_len)


def step_macs(model: LlmConfig, n_tok: float, n_out: float, pairs: float, layers: int | None = None) -> tuple[float, float]:
    """The MACs :meth:`LlmCost.work` prices for a step, before the tp split: (GEMM MACs, attention MACs).
    GEMMs: every token through the layers' Q/K/V/O and active MLP/router matrices, ``n_out`` through the LM head;
    attention: ``pairs`` query-key pairs x (QK^T + AV) x the query width (heads x head_dim). Checked against
    chiplab's captured graph of the transformers model in tests/serve/test_llm_configs.py."""
    m = model
    L = m.layers if layers is None else layers
    gemm = n_tok * L * (m.attn_params + m.active_mlp_macs_per_token) + n_out * m.hidden * m.vocab
    return gemm, pairs * 2 * m.q_dim * L


def _default_precision(chip: ChipSpec) -> str:
    for p in ("bf16", "fp16"):
        if p in chip.arch.precisions:
            return p
    return chip.native_precision


def _format(chip: ChipSpec, fmt: str, what: str) -> str:
    if fmt not in BYTES:
        raise ChiplabError(f"--{what} {fmt!r}: unknown format (known: {', '.join(FORMATS)})")
    if fmt not in chip.arch.precisions and fmt not in STORAGE_ONLY:
        raise CapabilityError(f"{chip.name}: --{what} {fmt} is not in the chip's numerics "
                              f"(supports {', '.join(chip.arch.precisions)})")
    return fmt


def _compute(chip: ChipSpec, stored: str, act: str) -> str:
    """The precision a GEMM of ``stored`` operands (weights or KV) and ``act`` activations runs at: the
    wider of the two (the narrower is converted); equal widths in different formats (int8 x fp8): 16-bit."""
    if stored == act:
        p = act
    elif BYTES[stored] != BYTES[act]:
        p = stored if BYTES[stored] > BYTES[act] else act
    else:
        p = _default_precision(chip)
    chip.arch.require(p, chip.name)
    return p
