"""CRLite: a Bloom filter cascade over every revocation, built with Mozilla's filtercascade.

The cascade encodes the set of revoked keys (issuer SPKI SHA-256 followed by the
serial's DER content bytes) against the set of valid, unrevoked keys, with the error
rates of the CRLite paper (first layer include/(sqrt(2) * exclude), then 0.5), so
that every enrolled key is answered exactly. Daily updates are measured as Mozilla
"stashes": per issuer a uint32 count, the issuer key with a uint8 length, then each
new serial with a uint8 length.
"""

from __future__ import annotations

import io
import logging
import random
import struct
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd
from filtercascade import FilterCascade, InvertedLogicException

log = logging.getLogger(__name__)


class CRLiteError(ValueError):
    """A cascade could not be built, or a stash or filter file is malformed."""


def crlite_key(issuer_spki_sha256: bytes, serial: bytes) -> bytes:
    """The enrolled key of one certificate: issuer SPKI hash then serial bytes."""
    return issuer_spki_sha256 + serial


@dataclass
class Cascade:
    """A built filter cascade and its measured size."""

    cascade: FilterCascade
    n_revoked: int
    n_valid: int
    size_bytes: int
    layers: int
    build_seconds: float

    @property
    def bits_per_revocation(self) -> float:
        """Filter bits per revoked key (NaN with no revocations)."""
        return 8 * self.size_bytes / self.n_revoked if self.n_revoked else float("nan")

    def is_revoked(self, key: bytes) -> bool:
        """The cascade's answer for one key."""
        return key in self.cascade

    def to_bytes(self) -> bytes:
        """The cascade in filtercascade's file format (what a client downloads)."""
        out = io.BytesIO()
        self.cascade.tofile(out)

        return out.getvalue()


def build_cascade(revoked: Collection[bytes], valid: Collection[bytes]) -> Cascade:
    """Build a cascade that says True for every revoked key and False for every valid one."""
    overlap = len(set(revoked) & set(valid)) if len(revoked) < len(valid) else None
    if overlap:
        raise CRLiteError(f"{overlap} keys are both revoked and valid")

    started = time.perf_counter()
    cascade = FilterCascade()
    if revoked and not valid:
        raise CRLiteError(f"{len(revoked)} revoked keys but no valid keys to exclude")
    if revoked:
        try:
            cascade.set_crlite_error_rates(include_len=len(revoked), exclude_len=len(valid))
        except InvertedLogicException as exc:
            raise CRLiteError(
                f"more revoked ({len(revoked)}) than valid ({len(valid)}) keys; "
                "CRLite's error rates need the valid set to be the larger"
            ) from exc
        cascade.initialize(include=set(revoked), exclude=list(valid))
        if not cascade.filters:
            # filtercascade clears its layers when false positives stop shrinking.
            raise CRLiteError("filtercascade aborted: layer sizes kept growing")

    out = io.BytesIO()
    cascade.tofile(out)
    built = Cascade(
        cascade=cascade,
        n_revoked=len(revoked),
        n_valid=len(valid),
        size_bytes=len(out.getvalue()),
        layers=cascade.layerCount(),
        build_seconds=time.perf_counter() - started,
    )
    log.info(
        "built CRLite cascade: %d revoked vs %d valid keys, %d layers, %d bytes in %.2f s",
        built.n_revoked,
        built.n_valid,
        built.layers,
        built.size_bytes,
        built.build_seconds,
    )

    return built


def load_cascade(data: bytes, path: str = "<bytes>") -> FilterCascade:
    """Read a filter-cascade file (versions 1 and 2, as written by filtercascade)."""
    try:
        return FilterCascade.from_buf(data)
    except Exception as exc:  # filtercascade raises bare Exception for unknown versions
        raise CRLiteError(f"{path}: not a filter cascade ({exc})") from exc


def wrong_answers(cascade: Cascade, revoked: Iterable[bytes], valid: Iterable[bytes]) -> int:
    """How many enrolled keys the cascade answers wrongly (zero by construction)."""
    misses = sum(1 for k in revoked if not cascade.is_revoked(k))

    return misses + sum(1 for k in valid if cascade.is_revoked(k))


def false_positive_rate(
    cascade: Cascade, enrolled: Collection[bytes], *, probes: int = 20_000, seed: int = 0
) -> float:
    """Share of random keys outside the enrolled population that the cascade calls revoked.

    Such keys stand for certificates CRLite never saw (not in CT, not yet issued);
    for them the filter gives no guarantee.
    """
    rng = random.Random(seed)
    hits = tried = 0
    while tried < probes:
        key = rng.randbytes(32) + rng.randbytes(16)
        if key in enrolled:
            continue
        tried += 1
        hits += cascade.is_revoked(key)

    return hits / tried if tried else float("nan")


def stash_bytes(new_serials: Mapping[bytes, Collection[bytes]]) -> int:
    """Size of a Mozilla stash carrying these new serials per issuer."""
    size = 0
    for issuer, serials in new_serials.items():
        if not serials:
            continue
        size += 4 + 1 + len(issuer) + sum(1 + len(s) for s in serials)

    return size


def write_stash(new_serials: Mapping[bytes, Collection[bytes]]) -> bytes:
    """Encode serials per issuer as a Mozilla stash (issuers without serials are left out)."""
    out = io.BytesIO()
    for issuer, serials in new_serials.items():
        if not serials:
            continue
        if len(issuer) > 255 or any(len(s) > 255 for s in serials):
            raise CRLiteError("stash issuer keys and serials must be at most 255 bytes")
        out.write(struct.pack("<IB", len(serials), len(issuer)))
        out.write(issuer)
        for serial in serials:
            out.write(struct.pack("<B", len(serial)))
            out.write(serial)

    return out.getvalue()


def read_stash(data: bytes, path: str = "<bytes>") -> dict[bytes, list[bytes]]:
    """Parse a Mozilla CRLite stash file into serials per issuer."""
    stash: dict[bytes, list[bytes]] = {}
    offset = 0
    while offset < len(data):
        if offset + 5 > len(data):
            raise CRLiteError(f"{path}: truncated stash entry at byte {offset}")
        (count,) = struct.unpack_from("<I", data, offset)
        issuer_len = data[offset + 4]
        issuer = data[offset + 5 : offset + 5 + issuer_len]
        offset += 5 + issuer_len
        serials = stash.setdefault(issuer, [])
        for _ in range(count):
            if offset >= len(data) or offset + 1 + data[offset] > len(data):
                raise CRLiteError(f"{path}: truncated serial at byte {offset}")
            serials.append(data[offset + 1 : offset + 1 + data[offset]])
            offset += 1 + data[offset]

    return stash


def daily_deltas(revocations: pd.DataFrame) -> pd.DataFrame:
    """Stash size of each day's new revocations.

    `revocations` needs issuer_spki_sha256 (hex), serial_hex and revoked_at columns.
    Returns day, new_revocations, delta_bytes.
    """
    if revocations.empty:
        return pd.DataFrame({"day": [], "new_revocations": [], "delta_bytes": []})

    frame = revocations.assign(day=pd.to_datetime(revocations["revoked_at"]).dt.date)
    rows = []
    for day, group in frame.groupby("day", sort=True):
        per_issuer: dict[bytes, list[bytes]] = {}
        for issuer, serial in zip(group["issuer_spki_sha256"], group["serial_hex"], strict=True):
            per_issuer.setdefault(bytes.fromhex(issuer), []).append(_serial_from_hex(serial))
        rows.append(
            {"day": day, "new_revocations": len(group), "delta_bytes": stash_bytes(per_issuer)}
        )

    return pd.DataFrame(rows)


def _serial_from_hex(serial_hex: str) -> bytes:
    value = int(serial_hex, 16)

    return value.to_bytes(value.bit_length() // 8 + 1, "big")


# Published sizes, cited as facts with their sources.
PUBLISHED = (
    {
        "system": "CRLite (Larisch et al., IEEE S&P 2017)",
        "revocations": 12_700_000,
        "filter_bytes": 10_000_000,
        "daily_delta_bytes": 580_000,
        "source": "J. Larisch et al., CRLite: A Scalable System for Pushing All TLS "
        "Revocations to All Browsers, IEEE S&P 2017: about 10 MB for ~12.7 M "
        "revocations, ~580 KB daily updates",
    },
    {
        "system": "Mozilla clubcard CRLite (Schanck, IEEE S&P 2025)",
        "revocations": 8_000_000,
        "filter_bytes": 6_700_000,
        "daily_delta_bytes": None,
        "source": "J. M. Schanck, Clubcards for the WebPKI: Smaller Certificate "
        "Revocation Tests in Theory and Practice, IEEE S&P 2025: 6.7 MB for more "
        "than 8 M revocations",
    },
)


def published_comparison(built: Cascade, mean_delta_bytes: float | None) -> pd.DataFrame:
    """Our cascade's size next to the published CRLite figures (bits per revocation)."""
    rows = [dict(row) for row in PUBLISHED]
    rows.append(
        {
            "system": "this dataset (filtercascade 0.4.1)",
            "revocations": built.n_revoked,
            "filter_bytes": built.size_bytes,
            "daily_delta_bytes": mean_delta_bytes,
            "source": f"built here against {built.n_valid} valid keys, {built.layers} layers",
        }
    )
    frame = pd.DataFrame(rows)
    frame["bits_per_revocation"] = (
        8 * frame["filter_bytes"] / frame["revocations"].where(frame["revocations"] > 0)
    )

    return frame[
        [
            "system",
            "revocations",
            "filter_bytes",
            "bits_per_revocation",
            "daily_delta_bytes",
            "source",
        ]
    ]
