"""Scenario model: the dataclass tree a TOML scenario file is loaded into.

A scenario may `extends = "<other>"` a shipped scenario; tables are merged key by
key, so derived scenarios state only what differs. Every number's source is
documented in `docs/simulator.md`.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


@dataclass(frozen=True)
class Region:
    """A client region: population share, clock offset, network distance, bandwidth."""

    name: str
    share: float
    utc_offset_h: float
    rtt_factor: float
    cdn_factor: float
    bandwidth_median_kbps: float
    bandwidth_sigma: float = 0.8


@dataclass(frozen=True)
class PkiConfig:
    """CA organisations, issuing CAs, certificate revocation and CRL sizes."""

    organisations: int = 12
    market_share_exponent: float = 1.2
    max_issuers_per_org: int = 3
    shared_infra_share: float = 0.25
    crl_only_share: float = 0.1
    intermediate_ocsp_share: float = 0.3
    ev_share: float = 0.3
    site_revoked_share: float = 0.006
    revoked_during_share: float = 0.3
    revoked_before_days: int = 365
    crl_kb_min: float = 1.0
    crl_kb_max: float = 500.0
    crl_growth_per_day: float = 0.002
    reasons: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ResponderConfig:
    """Latency, availability, error mix and response validity of responders."""

    ocsp_mean_ms: tuple[float, float] = (186.0, 776.0)
    ocsp_sigma: tuple[float, float] = (0.5, 0.9)
    crl_mean_ms: tuple[float, float] = (150.0, 600.0)
    cdn_share: float = 0.1
    cdn_median_ms: float = 40.0
    cdn_sigma: float = 0.6
    all_like_best: bool = False
    base_failure_prob: tuple[float, float] = (3e-5, 5e-4)
    mtbf_hours: tuple[float, float] = (150.0, 1500.0)
    mttr_hours: float = 1.5
    down_share: float = 0.4
    degraded_fail_fraction: tuple[float, float] = (0.1, 0.7)
    ocsp_validity_hours: tuple[float, float] = (24.0, 168.0)
    crl_validity_hours: tuple[float, float] = (24.0, 168.0)
    unknown_prob: float = 2e-4
    tail_prob: float = 0.01
    tail_ms: float = 3000.0
    ocsp_bytes: tuple[int, int] = (1400, 2600)
    failure_mix: dict[str, float] = field(default_factory=dict)
    outage_mix: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ClientConfig:
    """Client population: activity, failure mode, opt-in, flakiness, clocks, processes."""

    active_day_prob: tuple[float, float] = (0.6, 0.97)
    validations_per_day_median: float = 60.0
    validations_sigma: float = 0.7
    weekend_factor: float = 0.8
    latency_sigma: float = 0.25
    failure_mode_weights: tuple[float, float, float] = (0.96, 0.02, 0.02)
    ee_optin_share: float = 0.12
    v1_share: float = 0.15
    flaky_prob_median: float = 0.002
    flaky_sigma: float = 1.2
    captive_portal_per_day: float = 0.03
    captive_portal_minutes: float = 20.0
    proxy_share: float = 0.03
    proxy_work_hours: tuple[float, float] = (8.5, 17.5)
    skew_minutes_share: float = 0.08
    skew_days_share: float = 0.01
    process_weights: dict[str, float] = field(default_factory=dict)
    diurnal: tuple[float, ...] = (1.0,) * 24


@dataclass(frozen=True)
class SiteConfig:
    """The web sites clients visit: count, Zipf popularity, stapling."""

    count: int = 20000
    zipf_exponent: float = 1.0
    stapled_share: float = 0.02


@dataclass(frozen=True)
class AttackConfig:
    """The blocking adversary of the `attack` scenario."""

    enabled: bool = False
    client_share: float = 0.02
    start_day: int = 5
    duration_hours: float = 36.0
    visits_per_hour: float = 2.0


@dataclass(frozen=True)
class FaultConfig:
    """Shares of uploads that are duplicated, truncated, corrupted, re-uploaded or re-encoded."""

    duplicate: float = 0.004
    truncated: float = 0.003
    corrupted: float = 0.003
    reupload: float = 0.002
    crlf: float = 0.01
    bom: float = 0.005


@dataclass(frozen=True)
class Scenario:
    """A whole simulated world, as loaded from a scenario TOML file."""

    name: str
    description: str
    start: date
    days: int
    clients: int
    per_url_timeout_ms: float = 15000.0
    per_chain_timeout_ms: float = 20000.0
    shard_clients: int = 128
    workers: int = 2
    regions: tuple[Region, ...] = ()
    pki: PkiConfig = field(default_factory=PkiConfig)
    responders: ResponderConfig = field(default_factory=ResponderConfig)
    client: ClientConfig = field(default_factory=ClientConfig)
    sites: SiteConfig = field(default_factory=SiteConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    sources: dict[str, str] = field(default_factory=dict)


class ScenarioError(ValueError):
    """A scenario file is invalid; names the file and the offending key."""


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "sources":
            merged[key] = _merge(merged[key], value)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value

    return merged


def _read_table(
    name_or_path: str | Path, seen: tuple[str, ...] = ()
) -> tuple[dict[str, Any], Path]:
    path = Path(name_or_path)
    if path.suffix != ".toml" or not path.exists():
        shipped = SCENARIO_DIR / f"{name_or_path}.toml"
        if not shipped.exists():
            known = sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))
            raise ScenarioError(f"unknown scenario {str(name_or_path)!r}; shipped: {known}")
        path = shipped
    if str(path) in seen:
        raise ScenarioError(f"{path}: circular 'extends'")
    with path.open("rb") as handle:
        try:
            table = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{path}: {exc}") from exc

    parent = table.pop("extends", None)
    if parent is not None:
        base, _ = _read_table(parent, (*seen, str(path)))
        base.pop("name", None)
        base.pop("description", None)
        table = _merge(base, table)

    return table, path


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ScenarioError(f"{where}: expected a table, got {value!r}")
        return _build(tp, value, where)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ScenarioError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ScenarioError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(
            _convert(a, v, f"{where}[{i}]")
            for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ScenarioError(f"{where}: expected a table, got {value!r}")
        _, val_tp = typing.get_args(tp)
        return {str(k): _convert(val_tp, v, f"{where}.{k}") for k, v in value.items()}
    if origin in (types.UnionType, typing.Union):
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool and not isinstance(value, bool):
        raise ScenarioError(f"{where}: expected true or false, got {value!r}")
    if tp is str and not isinstance(value, str):
        raise ScenarioError(f"{where}: expected a string, got {value!r}")
    if tp is date and not isinstance(value, date):
        raise ScenarioError(f"{where}: expected a date (YYYY-MM-DD), got {value!r}")

    return value


def _build(cls: type, table: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in table.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ScenarioError(f"{where}: {exc}") from exc


def _apply_overrides(table: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    # `sites__count=500` reaches into the [sites] table.
    for key, value in overrides.items():
        parts = key.split("__")
        node = table
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    return table


def validate(scenario: Scenario) -> None:
    """Raise ScenarioError when values are out of range."""
    where = f"scenario {scenario.name!r}"
    if scenario.days < 1 or scenario.clients < 1:
        raise ScenarioError(f"{where}: days and clients must be >= 1")
    if not scenario.regions:
        raise ScenarioError(f"{where}: at least one [[regions]] entry is required")
    if scenario.pki.organisations < 1 or scenario.sites.count < 1:
        raise ScenarioError(f"{where}: pki.organisations and sites.count must be >= 1")
    if scenario.shard_clients < 1:
        raise ScenarioError(f"{where}: shard_clients must be >= 1")
    if scenario.attack.enabled and not 0 <= scenario.attack.start_day < scenario.days:
        raise ScenarioError(
            f"{where}: attack.start_day {scenario.attack.start_day} outside 0..{scenario.days - 1}"
        )
    shares = {
        "pki.shared_infra_share": scenario.pki.shared_infra_share,
        "pki.crl_only_share": scenario.pki.crl_only_share,
        "pki.site_revoked_share": scenario.pki.site_revoked_share,
        "responders.cdn_share": scenario.responders.cdn_share,
        "responders.down_share": scenario.responders.down_share,
        "responders.tail_prob": scenario.responders.tail_prob,
        "client.ee_optin_share": scenario.client.ee_optin_share,
        "client.v1_share": scenario.client.v1_share,
        "client.proxy_share": scenario.client.proxy_share,
        "attack.client_share": scenario.attack.client_share,
        "faults (sum of shares)": sum(dataclasses.astuple(scenario.faults)),
    }
    for label, value in shares.items():
        if not 0.0 <= value <= 1.0:
            raise ScenarioError(f"{where}: {label} must lie in [0, 1], got {value}")
    for label, mix in (
        ("pki.reasons", scenario.pki.reasons),
        ("responders.failure_mix", scenario.responders.failure_mix),
        ("responders.outage_mix", scenario.responders.outage_mix),
        ("client.process_weights", scenario.client.process_weights),
    ):
        if not mix or sum(mix.values()) <= 0:
            raise ScenarioError(f"{where}: {label} must have positive weights")


def load_scenario(name_or_path: str | Path, **overrides: Any) -> Scenario:
    """Load a shipped scenario by name or a TOML file by path, applying overrides.

    Overrides replace top-level keys (`clients=50`, `days=2`); a double underscore
    reaches into a table (`sites__count=500`).
    """
    table, path = _read_table(name_or_path)
    table = _apply_overrides(table, overrides)
    table.setdefault("name", path.stem)
    table.setdefault("description", "")
    scenario = _build(Scenario, table, str(path))
    validate(scenario)

    return typing.cast(Scenario, scenario)


def scenario_text(name_or_path: str | Path) -> str:
    """The raw TOML text of a scenario (recorded in the manifest)."""
    _, path = _read_table(name_or_path)

    return path.read_text(encoding="utf-8")
