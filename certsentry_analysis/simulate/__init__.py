"""The world simulator: CertSentry client logs with known ground truth.

`simulate(scenario, seed, out_dir)` writes logs, the PKI, truth tables and a
manifest; `load_scenario(name_or_path)` loads a scenario's dataclass tree.
See `docs/simulator.md`.
"""

from certsentry_analysis.simulate.core import simulate
from certsentry_analysis.simulate.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario", "simulate"]
