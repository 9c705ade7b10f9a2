"""What MLPerf Inference asks of each workload: the latency bound, the query counts and
the per-sample input sizes (sequence lengths for BERT).

Every figure from MLPerf is from LoadGen's ``mlperf.conf`` (mlcommons/inference,
``loadgen/mlperf.conf``) and LoadGen's defaults (``loadgen/test_settings.h``,
``loadgen/test_settings_internal.cc``), cited next to it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# --- LoadGen rules common to every model (mlperf.conf, "*.<Scenario>.*" keys) ---
MIN_DURATION_S = 600.0              # *.{SingleStream,MultiStream,Server,Offline}.min_duration = 600000 (ms)
SINGLE_STREAM_PERCENTILE = 90.0     # *.SingleStream.target_latency_percentile = 90
MULTI_STREAM_PERCENTILE = 99.0      # *.MultiStream.target_latency_percentile = 99
MULTI_STREAM_SAMPLES = 8            # *.MultiStream.samples_per_query = 8
MULTI_STREAM_MIN_QUERIES = 662      # *.MultiStream.min_query_count = 662
SERVER_PERCENTILE = 99.0            # *.Server.target_latency_percentile = 99
SERVER_DEFAULT_BOUND_S = 0.010      # *.Server.target_latency = 10 (ms), for models without their own line
DEFAULT_MIN_QUERIES = 100           # test_settings.h: min_query_count = 100 (SingleStream, Server: not overridden)
OFFLINE_SLACK = 1.1                 # test_settings_internal.cc: kSlack, samples = max(min_query_count, 1.1 * min_duration * expected_qps)

# The SQuAD v1.1 dev file (dev-v1.1.json) has 10,570 questions (the Hugging Face `squad`
# validation split: 10,570 rows); MLPerf's BERT QSL holds 10,833 features
# (bert.*.performance_sample_count_override = 10833): with the 384-token window and stride
# 128, about 263 questions spill into a second window [D]. The first window of each is full,
# the second nearly so: we put 2 x 263 / 10,833 = 4.9 % of the samples at 384 [A].
SQUAD_QUESTIONS, BERT_FEATURES, BERT_MAX_LEN = 10570, 10833, 384


@dataclass(frozen=True)
class MLPerfWorkload:
    mlperf_name: str             # the model's key in mlperf.conf
    server_bound_s: float
    offline_min_samples: int
    dataset: str
    seq_lens: bool = False       # samples carry a sequence length (BERT)
    note: str = ""


RESNET50 = MLPerfWorkload("resnet50", 0.015, 24576, "ImageNet 2012 val, 224x224")
#   resnet50.Server.target_latency = 15 (ms); resnet50.Offline.min_query_count = 24576
BERT = MLPerfWorkload("bert", 0.130, 10833, "SQuAD v1.1 dev, <= 384 tokens", seq_lens=True)
#   bert.Server.target_latency = 130 (ms); bert.Offline.min_query_count = 10833

WORKLOADS = {
    "resnet50": RESNET50,
    "bert-large": BERT,
    "bert-base": MLPerfWorkload("bert", BERT.server_bound_s, BERT.offline_min_samples, BERT.dataset, True,
                                "MLPerf's bert-99 is BERT-Large; bert-base runs under its rules"),
}
_VISION = ("resnet18", "mobilenet_v2", "vit-b16")


def mlperf_workload(name: str) -> MLPerfWorkload:
    """The MLPerf rules a chiplab workload runs under. Vision models without an MLPerf entry
    run under ResNet-50's; anything else under mlperf.conf's defaults (10 ms Server bound)."""
    key = str(name)
    if key in WORKLOADS:
        return WORKLOADS[key]
    if key in _VISION:
        return MLPerfWorkload("resnet50", RESNET50.server_bound_s, RESNET50.offline_min_samples, RESNET50.dataset,
                              note=f"{key} is not an MLPerf model; run under resnet50's rules")
    return MLPerfWorkload("*", SERVER_DEFAULT_BOUND_S, DEFAULT_MIN_QUERIES, "unspecified",
                          note=f"{key} is not an MLPerf model; mlperf.conf's defaults apply")


def squad_seq_lens(n: int, seed: int = 0) -> np.ndarray:
    """Token lengths of ``n`` BERT samples, drawn from our model of SQuAD v1.1 dev at 384 max.

    [A] our assumption, not measured: we do not ship SQuAD. 4.9 % of samples fill the
    384-token window (derived above from MLPerf's 10,833 features for 10,570 questions);
    the rest follow a log-normal with median 160 tokens and sigma 0.35 (a question of
    ~11 words plus a paragraph of ~120 words, tokenised with WordPiece and 3 special
    tokens), clipped to [32, 383]. Replace with the real lengths when you have them
    (``lens=`` in :func:`chiplab.scenario.scenarios.run`).
    """
    rng = np.random.default_rng(seed)
    full = rng.random(n) < 2 * (BERT_FEATURES - SQUAD_QUESTIONS) / BERT_FEATURES
    body = np.clip(np.round(rng.lognormal(np.log(160.0), 0.35, n)), 32, BERT_MAX_LEN - 1)
    return np.where(full, BERT_MAX_LEN, body).astype(np.int32)
