"""MLPerf Inference scenarios (SingleStream, MultiStream, Server, Offline) simulated in
virtual time over a chip's estimated latencies. See docs/scenarios.md."""
from chiplab.scenario.scenarios import SCENARIOS, ScenarioResult, run
from chiplab.scenario.service import AffineService, ConstantService, EstimateService, ServiceModel

__all__ = ["SCENARIOS", "AffineService", "ConstantService", "EstimateService", "ScenarioResult", "ServiceModel", "run"]
