"""Scenario files: every shipped one loads; errors name the key; overrides apply."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from certsentry_analysis.simulate import Scenario, ScenarioError, load_scenario

SHIPPED = ("tiny", "baseline-2012", "cdn-2016", "best-ca-world", "attack")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load(name: str) -> None:
    scenario = load_scenario(name)

    assert scenario.name == name
    assert scenario.regions and scenario.pki.reasons and scenario.responders.failure_mix


def test_baseline_meets_the_scale_and_calibration_targets() -> None:
    sc = load_scenario("baseline-2012")

    assert sc.clients >= 2000 and sc.days >= 14
    # Hurst (2012): about 186 ms to 776 ms per CA, as clients see it.
    low, high = _client_seen_means(sc, sc.responders.ocsp_mean_ms)
    assert low == pytest.approx(186.0, rel=0.02)
    assert high == pytest.approx(776.0, rel=0.02)
    assert sc.responders.base_failure_prob == (3e-5, 5e-4)
    assert (sc.pki.crl_kb_min, sc.pki.crl_kb_max) == (1.0, 500.0)
    assert (sc.per_url_timeout_ms, sc.per_chain_timeout_ms) == (15000.0, 20000.0)


def test_derived_scenarios_change_only_what_they_state() -> None:
    base = load_scenario("baseline-2012")
    best = load_scenario("best-ca-world")
    attack = load_scenario("attack")

    assert best.responders.all_like_best and not base.responders.all_like_best
    assert best.client == base.client and best.sites == base.sites
    assert attack.attack.enabled and attack.responders == base.responders
    cdn = load_scenario("cdn-2016")
    cdn_factor = sum(r.share * r.cdn_factor for r in cdn.regions)
    # Zhu, Amann, Heidemann (2016): CDN-served OCSP median about 20 ms as clients see it.
    assert cdn.responders.cdn_median_ms * cdn_factor == pytest.approx(20.0, rel=0.03)


def _client_seen_means(sc: Scenario, means: tuple[float, float]) -> tuple[float, float]:
    """Responder means as the client population sees them: regional and client factors
    scale the latency, and the SYN-retransmission tail adds its expected delay."""
    region = sum(r.share * r.rtt_factor for r in sc.regions)
    client = math.exp(sc.client.latency_sigma**2 / 2)
    tail = sc.responders.tail_prob * sc.responders.tail_ms

    return means[0] * region * client + tail, means[1] * region * client + tail


def test_overrides_reach_top_level_and_nested_keys() -> None:
    sc = load_scenario("tiny", clients=7, sites__count=99)

    assert sc.clients == 7 and sc.sites.count == 99


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('extends = "tiny"\n[sites]\ncuont = 5\n')

    with pytest.raises(ScenarioError, match="cuont"):
        load_scenario(path)


def test_wrong_type_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('extends = "tiny"\nclients = "many"\n')

    with pytest.raises(ScenarioError, match="clients"):
        load_scenario(path)


def test_unknown_scenario_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="baseline-2012"):
        load_scenario("no-such-world")


def test_share_out_of_range_is_named() -> None:
    with pytest.raises(ScenarioError, match=r"client.v1_share must lie in \[0, 1\]"):
        load_scenario("tiny", client__v1_share=1.5)
