"""The simulated data's statistics match the scenario's parameters within stated tolerances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from certsentry_analysis.simulate import load_scenario, simulate


@pytest.fixture(scope="module")
def truth(tiny_world: Path) -> dict[str, pl.DataFrame]:
    tables = {p.stem: pl.read_parquet(p) for p in (tiny_world / "truth").glob("*.parquet")}
    tables["checks"] = pl.read_parquet(tiny_world / "truth" / "checks")

    return tables


@pytest.fixture(scope="module")
def stress_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Many wire checks, a fixed 2 % background failure rate and no outages."""
    out = tmp_path_factory.mktemp("stress")
    return simulate(
        "tiny",
        seed=3,
        out_dir=out,
        clients=60,
        days=2,
        attack__enabled=False,
        responders__base_failure_prob=[0.02, 0.02],
        responders__mtbf_hours=[1e9, 1e9],
        client__captive_portal_per_day=0.0,
        client__proxy_share=0.0,
        client__flaky_prob_median=1e-9,
        client__skew_days_share=0.0,
        sites__count=20000,
        sites__zipf_exponent=0.6,
        faults__duplicate=0.0,
    )


def _normalised_log_latency(truth: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """log(true latency / (region factor x client factor)) of wire OCSP checks."""
    regions = truth["regions"].select("region", "rtt_factor", "cdn_factor")
    clients = truth["clients"].select("client_id", "region", "latency_factor")
    responders = truth["responders"].select(
        "responder", "method", "cdn", "latency_mu", "latency_sigma"
    )
    return (
        truth["checks"]
        .filter((pl.col("source") == "wire") & (pl.col("method") == "OCSP"))
        .join(clients, on="client_id")
        .join(regions, on="region")
        .join(responders, on=["responder", "method"])
        .with_columns(
            z=(
                pl.col("true_latency_ms")
                / pl.when(pl.col("cdn")).then(pl.col("cdn_factor")).otherwise(pl.col("rtt_factor"))
                / pl.col("latency_factor")
            ).log()
        )
    )


def test_latency_quantiles_match_the_lognormal_parameters(truth: dict[str, pl.DataFrame]) -> None:
    # Tolerance: median within 3 standard errors (1.25 sigma / sqrt(n)) plus 0.03 for the
    # 1 % retransmission tail; the interquartile range within 12 % of 1.349 sigma.
    frame = _normalised_log_latency(truth)
    stats = (
        frame.group_by("responder")
        .agg(
            n=pl.len(),
            median=pl.col("z").median(),
            q25=pl.col("z").quantile(0.25),
            q75=pl.col("z").quantile(0.75),
            mu=pl.col("latency_mu").first(),
            sigma=pl.col("latency_sigma").first(),
        )
        .filter(pl.col("n") >= 400)
    )

    assert len(stats) >= 3
    for row in stats.iter_rows(named=True):
        se = 1.25 * row["sigma"] / np.sqrt(row["n"])
        assert abs(row["median"] - row["mu"]) < 3 * se + 0.03, row
        iqr_sigma = (row["q75"] - row["q25"]) / 1.349
        assert abs(iqr_sigma / row["sigma"] - 1) < 0.12, row


def test_mean_ocsp_latencies_span_the_scenario_range() -> None:
    from certsentry_analysis.simulate.world import build_world

    sc = load_scenario("baseline-2012", clients=10, sites__count=100, pki__crl_kb_max=2.0)
    world = build_world(sc, 7)
    r = world.responders
    means = np.exp(r.mu + r.sigma**2 / 2)[(r.method == 0) & ~r.cdn]

    assert means.min() == pytest.approx(sc.responders.ocsp_mean_ms[0], rel=1e-6)
    assert means.max() == pytest.approx(sc.responders.ocsp_mean_ms[1], rel=1e-6)


def test_background_failure_rate_matches_the_parameter(stress_world: Path) -> None:
    checks = pl.read_parquet(stress_world / "truth" / "checks")
    wire = checks.filter(pl.col("source") == "wire")
    n = len(wire)
    rate = (wire["cause"] == "server").mean()
    # Binomial tolerance: 4 standard errors around 2 %.
    se = np.sqrt(0.02 * 0.98 / n)

    assert n > 4000
    assert abs(rate - 0.02) < 4 * se  # type: ignore[operator]
    assert (wire["cause"].is_in(["none", "server"])).all()


def test_true_failure_rate_is_the_realised_server_share(truth: dict[str, pl.DataFrame]) -> None:
    wire = truth["checks"].filter(pl.col("source") == "wire")
    realised = wire.group_by("responder", "method").agg(rate=(pl.col("cause") == "server").mean())
    joined = truth["responders"].join(realised, on=["responder", "method"])

    assert np.allclose(joined["rate"], joined["true_failure_rate"])


def test_most_repeat_checks_are_cache_hits(truth: dict[str, pl.DataFrame]) -> None:
    checks = (
        truth["checks"]
        .filter(pl.col("source") != "staple")
        .with_columns(
            # A client caches one OCSP answer per certificate and one CRL per issuer.
            entry=pl.when(pl.col("method") == "OCSP")
            .then(pl.col("serial_hex"))
            .otherwise(pl.col("issuer_spki_sha256"))
        )
    )
    first = checks.sort("ts").group_by("client_id", "method", "entry").first()
    repeats = len(checks) - len(first)

    assert (first["source"] == "wire").all()
    assert (checks["source"] == "cache").sum() / repeats > 0.6


def test_cache_hits_reuse_a_fresh_earlier_answer(truth: dict[str, pl.DataFrame]) -> None:
    hits = truth["checks"].filter(pl.col("source") == "cache")

    assert len(hits) > 0
    assert (hits["latency_ms"] <= 1.0).all()


def test_revoked_share_of_sites_matches_the_parameter(truth: dict[str, pl.DataFrame]) -> None:
    sc = load_scenario("tiny")
    sites = truth["certificates"].filter(
        pl.col("site_rank").is_not_null() & ~pl.col("attack_victim")
    )
    p = sc.pki.site_revoked_share
    se = np.sqrt(p * (1 - p) / len(sites))

    assert abs(sites["revoked"].mean() - p) < 4 * se  # type: ignore[operator]


def test_revocation_reasons_follow_the_mix(truth: dict[str, pl.DataFrame]) -> None:
    sc = load_scenario("tiny")
    revoked = truth["certificates"].filter(pl.col("revoked"))
    shares = revoked["reason"].value_counts(normalize=True)
    observed = dict(zip(shares["reason"], shares["proportion"], strict=True))
    total = sum(sc.pki.reasons.values())

    assert len(revoked) > 1000
    for reason, weight in sc.pki.reasons.items():
        assert abs(observed.get(reason, 0.0) - weight / total) < 0.03, reason


def test_revoked_outcomes_only_after_revocation(truth: dict[str, pl.DataFrame]) -> None:
    certs = truth["certificates"].filter(pl.col("site_rank").is_not_null())
    rows = (
        truth["checks"]
        .filter(pl.col("outcome") == "revoked")
        .join(certs, on=["issuer_spki_sha256", "site_rank"])
    )

    assert len(rows) > 0
    assert rows["revoked"].all()
    assert (rows["revoked_at"] <= rows["ts_true"]).all()


def test_down_outages_fail_every_wire_check(truth: dict[str, pl.DataFrame]) -> None:
    outages = truth["outages"].filter(pl.col("kind") == "down")
    wire = truth["checks"].filter(
        (pl.col("source") == "wire")
        & (pl.col("cause") != "attack")
        & (pl.col("cause") != "client")
    )
    inside = wire.join(outages, on=["responder", "method"]).filter(
        (pl.col("ts_true") >= pl.col("start")) & (pl.col("ts_true") < pl.col("end"))
    )

    assert len(truth["outages"]) > 0
    assert (inside["outcome"] == "error").all()


def test_client_episodes_cause_their_signature_errors(truth: dict[str, pl.DataFrame]) -> None:
    checks = truth["checks"].filter(pl.col("source") == "wire")
    episodes = truth["client_episodes"]
    during = checks.join(episodes, on="client_id").filter(
        (pl.col("ts_true") >= pl.col("start")) & (pl.col("ts_true") < pl.col("end"))
    )
    portal = during.filter(pl.col("kind") == "captive_portal")
    proxy = during.filter((pl.col("kind") == "proxy_blocks_ocsp") & (pl.col("method") == "OCSP"))
    attack = during.filter(pl.col("kind") == "attacker")

    assert len(portal) > 0 and len(proxy) > 0 and len(attack) > 0
    portal_errors = portal.filter(pl.col("cause") == "client")
    assert (portal_errors["error"] == "CRYPT_E_ASN1_CORRUPT").mean() > 0.9  # type: ignore[operator]
    assert (proxy["outcome"] == "error").all()
    assert (attack["cause"] == "attack").all()
