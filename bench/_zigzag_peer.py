"""Runs ZigZag (in its own venv, .peers-zigzag) on ResNet-18 with its shipped tpu_like
accelerator and mapping; prints one JSON object: per-layer cycles and energy, totals,
and the wall and CPU seconds ZigZag took. Called by bench/vs_zigzag.py."""
import json
import os
import sys
import tempfile
import time

import zigzag
from zigzag import api

root = os.path.dirname(zigzag.__file__)
workload = os.path.join(root, "inputs", "workload", "resnet18.onnx")
hardware = os.path.join(root, "inputs", "hardware", "tpu_like.yaml")
mapping = os.path.join(root, "inputs", "mapping", "tpu_like.yaml")
t0, c0 = time.perf_counter(), time.process_time()
with tempfile.TemporaryDirectory() as d:
    energy, latency, cmes = api.get_hardware_performance_zigzag(workload=workload, accelerator=hardware,
                                                              mapping=mapping, opt="latency", dump_folder=d,
                                                              loma_show_progress_bar=False)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
layers = []


def collect(items):
    """ZigZag returns [(cumulative, [(per-layer cme, extra), ...])]: walk it."""
    for item in items:
        cme, extra = item if isinstance(item, tuple) and len(item) == 2 else (item, None)
        if hasattr(cme, "layer"):
            layers.append({"name": str(cme.layer.name), "cycles": float(cme.latency_total2),
                           "ideal_cycles": float(cme.ideal_cycle), "energy_pj": float(cme.energy_total),
                           "mac_energy_pj": float(cme.mac_energy), "macs": float(cme.layer.total_mac_count)})
        if isinstance(extra, list):
            collect(extra)


collect(cmes)
print(json.dumps({"workload": workload, "hardware": hardware, "mapping": mapping, "energy_pj": float(energy),
                  "cycles": float(latency), "wall_s": wall, "cpu_s": cpu, "layers": layers,
                  "zigzag_version": getattr(zigzag, "__version__", "3.9.1")}))
sys.stdout.flush()
