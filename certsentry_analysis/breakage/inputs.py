"""The warehouse reduced to the numpy arrays the replay sweeps over.

`Population` fixes the denominators (clients, validations, client-days, positions of the
unfiltered data), so the variant with client-side failures removed is measured against
the same units. `Positions` and `Validations` hold critical times with NEVER as
infinity; `RetryModel` holds the per-attempt success probabilities of each responder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from certsentry_analysis.breakage import validations as sql
from certsentry_analysis.rollups import bin_value

log = logging.getLogger(__name__)

# Pseudo-pairs a responder's retry success is shrunk with towards the pooled rate.
RETRY_PRIOR_ATTEMPTS = 20.0
# A later attempt by the same client at the same responder counts as a retry this soon.
RETRY_WINDOW_S = 60
# Fewer observed retries than this overall: the prior is the unconditional answer rate.
MIN_POOLED_PAIRS = 50


def staple_draw(client: pd.Series | np.ndarray, chain_id: pd.Series | np.ndarray) -> np.ndarray:
    """A fixed uniform number per validation: those below the stapling share are stapled."""
    frame = pd.DataFrame({"client": np.asarray(client), "chain_id": np.asarray(chain_id)})
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)

    return (hashed >> np.uint64(11)).astype(np.float64) / float(2**53)


def _crit(values: pd.Series) -> np.ndarray:
    out = values.to_numpy(dtype=np.float64, na_value=0.0)

    return np.where(out >= sql.NEVER_MS, np.inf, out)


@dataclass
class Population:
    """Clients (cluster units) and the per-client denominators of the three units."""

    clients: np.ndarray
    validations: np.ndarray
    client_days: np.ndarray
    positions: np.ndarray
    cd_keys: pd.DataFrame  # client, day, cd (client-day index), client_idx

    @property
    def size(self) -> int:
        """Number of clients."""
        return len(self.clients)

    def client_index(self, client: pd.Series | np.ndarray) -> np.ndarray:
        """Index of each client in `clients` (-1 when unknown)."""
        # Look up the few distinct clients, then spread their indices (no per-row hashing
        # into a new categorical).
        codes, distinct = pd.factorize(np.asarray(client, dtype=object))
        found = pd.Index(self.clients, dtype=object).get_indexer(distinct)

        return np.append(found, -1).astype(np.int64)[codes]

    def client_day_index(self, client: pd.Series, day: pd.Series) -> np.ndarray:
        """Index of each (client, day) in `cd_keys` (-1 when unknown)."""
        client_idx = self.client_index(client)
        days = _day_numbers(day)
        known = self.cd_keys["client_idx"].to_numpy(dtype=np.int64)
        table = _pair_keys(known, _day_numbers(self.cd_keys["day"]))
        order = np.argsort(table, kind="stable")
        wanted = _pair_keys(client_idx, days)
        at = np.minimum(np.searchsorted(table[order], wanted), max(len(table) - 1, 0))
        hit = (client_idx >= 0) & (days != _NO_DAY) & (len(table) > 0)
        if len(table):
            hit &= table[order][at] == wanted

        return np.where(hit, order[at] if len(table) else -1, -1).astype(np.int64)


_NO_DAY = np.iinfo(np.int64).min


def _day_numbers(day: pd.Series | np.ndarray) -> np.ndarray:
    """Days since the epoch as int64 (_NO_DAY for missing days)."""
    values = pd.to_datetime(pd.Series(np.asarray(day))).to_numpy(dtype="datetime64[ns]")
    numbers = values.astype(np.int64) // np.int64(86_400 * 10**9)

    return np.where(np.isnat(values), _NO_DAY, numbers)


def _pair_keys(client_idx: np.ndarray, days: np.ndarray) -> np.ndarray:
    """One int64 per (client index, day): days fit in 2**24 around the epoch."""
    return client_idx.astype(np.int64) * np.int64(1 << 25) + (days & np.int64((1 << 25) - 1))


def population(positions: pd.DataFrame) -> Population:
    """Denominators from the positions of the unfiltered checks."""
    clients = np.sort(positions["client"].unique())
    validations = positions.groupby(["client", "chain_id"], sort=False)["vday"].min().reset_index()
    validations["day"] = pd.to_datetime(validations["vday"])
    cd = validations.groupby(["client", "day"]).size().rename("validations").reset_index()
    cd["cd"] = np.arange(len(cd))
    cd["client_idx"] = pd.Categorical(cd["client"], categories=clients).codes
    per_client = lambda s: s.reindex(clients, fill_value=0).to_numpy(np.float64)  # noqa: E731

    return Population(
        clients=clients,
        validations=per_client(validations.groupby("client").size()),
        client_days=per_client(cd.groupby("client").size()),
        positions=per_client(positions.groupby("client").size()),
        cd_keys=cd,
    )


@dataclass
class Positions:
    """One entry per position of a variant (client-side failures kept or removed)."""

    client: np.ndarray
    validation: np.ndarray  # index for per-validation sums
    leaf: np.ndarray
    live: np.ndarray
    crit: np.ndarray
    wire_ms: np.ndarray
    issuer: np.ndarray
    responder: np.ndarray  # index into RetryModel.responders
    staple_u: np.ndarray
    region: np.ndarray
    failure_mode: np.ndarray


@dataclass
class Validations:
    """One entry per validation with a position in scope (columns of validations_sql)."""

    client: np.ndarray
    client_day: np.ndarray
    crit_leaf: np.ndarray
    crit_upper: np.ndarray
    responder_leaf: np.ndarray
    responder_upper: np.ndarray
    issuer_leaf: np.ndarray
    issuer_upper: np.ndarray
    live: np.ndarray
    staple_u: np.ndarray
    region: np.ndarray
    failure_mode: np.ndarray
    scope_key: np.ndarray

    def select(self, mask: np.ndarray) -> Validations:
        """The validations where `mask` is true."""
        return Validations(**{k: v[mask] for k, v in self.__dict__.items()})


@dataclass
class RetryModel:
    """What a retry achieves, per responder, estimated from the data.

    `retry_success[r, j]`: probability that the next attempt at responder r, made by the
    same client within RETRY_WINDOW_S of a failed one, answered within T_j (shrunk
    towards the pooled rate of all responders with RETRY_PRIOR_ATTEMPTS pseudo-pairs).
    Conditioning on a preceding failure keeps outages and broken client networks,
    which make retries fail together, in the estimate. `mean_truncated[r, j]`: mean
    attempt time cut at T_j. Row `len(responders)` is the pooled row.
    """

    responders: pd.Index
    grid: np.ndarray
    retry_success: np.ndarray  # (R + 1, J)
    mean_truncated: np.ndarray  # (R + 1, J)
    pairs: np.ndarray  # (R + 1,) failed attempts followed by a retry

    def index(self, responder: pd.Series) -> np.ndarray:
        """Row of each responder (the pooled row when unknown or null)."""
        codes, distinct = pd.factorize(responder.to_numpy(dtype=object))  # null: -1
        found = self.responders.get_indexer([*distinct, ""])  # null reads as ""
        rows = np.where(found < 0, len(self.responders), found)

        return rows[codes]


def _binned_within(
    frame: pd.DataFrame, responders: pd.Index, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per responder (+ pooled row): attempts, answered within each T, and sum of min(L, T)."""
    rows = len(responders) + 1
    r = responders.get_indexer(frame["responder"].fillna("").to_numpy())
    r = np.where(r < 0, rows - 1, r)
    latency = bin_value(frame["lat_bin"].to_numpy())
    n = frame["attempts"].to_numpy(dtype=np.float64)
    ok = frame["failed"].to_numpy() == 0
    total = np.bincount(r, weights=n, minlength=rows)
    total[-1] = n.sum()
    within = np.zeros((rows, len(grid)))
    truncated = np.zeros((rows, len(grid)))
    for j, T in enumerate(grid):
        w = n * ok * (latency <= T)
        t = n * np.minimum(latency, T)
        within[:, j] = np.bincount(r, weights=w, minlength=rows)
        truncated[:, j] = np.bincount(r, weights=t, minlength=rows)
        within[-1, j] = w.sum()
        truncated[-1, j] = t.sum()

    return total, within, truncated


def retry_model(
    con: duckdb.DuckDBPyConnection, grid: np.ndarray, *, drop_client_side: bool
) -> RetryModel:
    """Estimate the retry model from the warehouse's wire checks."""
    relations = {sql.CHECKS: "current_checks"}
    attempts = con.execute(
        sql.render(sql.attempts_sql(drop_client_side=drop_client_side), relations)
    ).df()
    retries = con.execute(
        sql.render(
            sql.retries_sql(drop_client_side=drop_client_side, window_seconds=RETRY_WINDOW_S),
            relations,
        )
    ).df()
    responders = pd.Index(sorted(attempts["responder"].dropna().unique()))
    total, answered, truncated = _binned_within(attempts, responders, grid)
    pairs, within, _ = _binned_within(retries, responders, grid)
    pooled = within[-1] / max(pairs[-1], 1.0)
    if pairs[-1] < MIN_POOLED_PAIRS:
        # Too few observed retries to estimate: fall back to any attempt's chance (the
        # independence assumption, optimistic when failures come in runs).
        pooled = answered[-1] / max(total[-1], 1.0)
    success = (within + RETRY_PRIOR_ATTEMPTS * pooled[None, :]) / (pairs + RETRY_PRIOR_ATTEMPTS)[
        :, None
    ]
    log.debug(
        "retry model: %d responders, %d failed attempts followed by a retry",
        len(responders),
        int(pairs[-1]),
    )

    return RetryModel(
        responders=responders,
        grid=np.asarray(grid, dtype=np.float64),
        retry_success=success,
        mean_truncated=truncated / np.maximum(total, 1.0)[:, None],
        pairs=pairs,
    )


def positions_arrays(frame: pd.DataFrame, pop: Population, retry: RetryModel) -> Positions:
    """Arrays of one positions variant, indexed against `pop` and `retry`."""
    validation = frame.groupby(["client", "chain_id"], sort=False).ngroup().to_numpy()

    return Positions(
        client=pop.client_index(frame["client"]),
        validation=validation.astype(np.int64),
        leaf=frame["chain_pos"].to_numpy() == 0,
        live=frame["live"].to_numpy() == 1,
        crit=_crit(frame["crit_ms"]),
        wire_ms=frame["wire_ms"].to_numpy(dtype=np.float64, na_value=0.0),
        issuer=frame["issuer_sha1"].to_numpy(dtype=object),
        responder=retry.index(frame["responder"]),
        staple_u=staple_draw(frame["client"], frame["chain_id"]),
        region=frame["region"].fillna("").to_numpy(dtype=object),
        failure_mode=frame["failure_mode"].fillna(0).to_numpy(dtype=np.int64),
    )


def validations_arrays(frame: pd.DataFrame, pop: Population, retry: RetryModel) -> Validations:
    """Arrays of a validations frame (output of validations_sql)."""
    return Validations(
        client=pop.client_index(frame["client"]),
        client_day=pop.client_day_index(frame["client"], frame["day"]),
        crit_leaf=_crit(frame["crit_leaf_ms"]),
        crit_upper=_crit(frame["crit_upper_ms"]),
        responder_leaf=retry.index(frame["responder_leaf"]),
        responder_upper=retry.index(frame["responder_upper"]),
        issuer_leaf=frame["issuer_leaf"].fillna("").to_numpy(dtype=object),
        issuer_upper=frame["issuer_upper"].fillna("").to_numpy(dtype=object),
        live=frame["live_positions"].to_numpy(dtype=np.float64, na_value=0.0),
        staple_u=staple_draw(frame["client"], frame["chain_id"]),
        region=frame["region"].fillna("").to_numpy(dtype=object),
        failure_mode=frame["failure_mode"].fillna(0).to_numpy(dtype=np.int64),
        scope_key=frame["scope_key"].to_numpy(dtype=object),
    )


def reduce_validations(
    pos: Positions, mask: np.ndarray, client_day: np.ndarray, scope_key: str
) -> Validations:
    """validations_sql in numpy: one entry per validation with a position where `mask` holds.

    The same reductions over the positions in `mask` as the SQL (largest end-entity and
    upper-chain critical times, the responder and issuer of the worst of each, live
    positions), without another pass over the warehouse or string conversions.
    `client_day` is each position's index in `Population.cd_keys`. Entries come in
    validation order; ties between equally bad upper positions go to the last one (the
    SQL's MAX_BY leaves them to the engine; they only matter for attribution).
    """
    idx = np.flatnonzero(mask)
    numbers, inv = np.unique(pos.validation[idx], return_inverse=True)
    n = len(numbers)
    leaf, crit = pos.leaf[idx], pos.crit[idx]
    rep = np.empty(n, dtype=np.int64)
    rep[inv] = idx  # any position of each validation: client, day and staple draw agree
    crit_leaf, crit_upper = np.zeros(n), np.zeros(n)
    np.maximum.at(crit_leaf, inv[leaf], crit[leaf])
    np.maximum.at(crit_upper, inv[~leaf], crit[~leaf])
    # A validation has at most one end entity; without one in scope any position will do.
    worst_leaf = rep.copy()
    worst_leaf[inv[leaf]] = idx[leaf]
    order = np.lexsort((np.where(leaf, -1.0, crit), inv))
    last = np.r_[inv[order][1:] != inv[order][:-1], True]
    worst_upper = idx[order[last]]
    region_codes, regions = pd.factorize(pos.region[idx], sort=True)
    region = np.full(n, len(regions), dtype=np.int64)
    np.minimum.at(region, inv, region_codes)
    failure_mode = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(failure_mode, inv, pos.failure_mode[idx])

    def issuer(at: np.ndarray) -> np.ndarray:
        values = pos.issuer[at].astype(object)
        values[pd.isna(values)] = ""
        return values

    return Validations(
        client=pos.client[rep],
        client_day=client_day[rep],
        crit_leaf=crit_leaf,
        crit_upper=crit_upper,
        responder_leaf=pos.responder[worst_leaf],
        responder_upper=pos.responder[worst_upper],
        issuer_leaf=issuer(worst_leaf),
        issuer_upper=issuer(worst_upper),
        live=np.bincount(inv, pos.live[idx].astype(np.float64), minlength=n),
        staple_u=pos.staple_u[rep],
        region=np.append(np.asarray(regions, dtype=object), "")[region],
        failure_mode=failure_mode,
        scope_key=np.full(n, scope_key, dtype=object),
    )
