"""Chrome's CRLSet file format: read, write, CRX3 unwrapping, lookups and diffs.

A CRLSet is a little-endian uint16 header length, a JSON header, then one record
per parent (issuing CA): the SHA-256 of the parent's SubjectPublicKeyInfo (32 bytes),
a little-endian uint32 serial count and each serial as a uint8 length plus its bytes.
Lookups follow Chromium's `net/cert/crl_set.cc` rules: a blocked SPKI anywhere in
the chain revokes it; a parent absent from the set gives "unknown"; a listed serial
(leading zero bytes ignored) gives "revoked"; otherwise "good".
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

CRX3_MAGIC = b"Cr24"
CRX3_VERSION = 3
CRX_MEMBER = "crl-set"
CONTENT_TYPE = "CRLSet"
FILE_VERSION = 0
SPKI_HASH_LEN = 32
# Chrome's published budget for the whole pushed file.
DEFAULT_CAP_BYTES = 250_000


class CRLSetError(ValueError):
    """A CRLSet (or its CRX3 wrapper) is truncated or inconsistent."""

    def __init__(self, path: str | Path, offset: int | None, message: str) -> None:
        self.path = str(path)
        self.offset = offset
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{self.path}{where}: {message}")


class Status(Enum):
    """Result of a CRLSet lookup, as Chrome names them."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


def strip_serial(serial: bytes) -> bytes:
    """A serial without its leading zero bytes (one zero byte is kept for serial 0)."""
    stripped = serial.lstrip(b"\x00")

    return stripped if stripped else serial[-1:]


def serial_bytes(serial: int) -> bytes:
    """The DER INTEGER content octets of a non-negative serial number."""
    if serial < 0:
        raise ValueError(f"negative serial {serial} cannot be stored in a CRLSet")

    return serial.to_bytes(serial.bit_length() // 8 + 1, "big")


@dataclass
class CRLSet:
    """An in-memory CRLSet; `parents` keeps file order, serials keep their raw bytes."""

    sequence: int = 0
    not_after: int | None = None
    delta_from: int | None = 0
    blocked_spkis: list[bytes] = field(default_factory=list)
    known_interception_spkis: list[bytes] | None = None
    blocked_interception_spkis: list[bytes] | None = None
    limited_subjects: dict[str, list[str]] | None = None
    parents: dict[bytes, list[bytes]] = field(default_factory=dict)
    # The header bytes as read, written back unchanged while the fields still match them
    # so that reading and writing a real file is byte-identical.
    raw_header: bytes | None = field(default=None, repr=False, compare=False)

    def header(self) -> dict[str, Any]:
        """The JSON header in the field order of Google's CRLSet generator."""
        head: dict[str, Any] = {
            "Version": FILE_VERSION,
            "ContentType": CONTENT_TYPE,
            "Sequence": self.sequence,
        }
        if self.delta_from is not None:
            head["DeltaFrom"] = self.delta_from
        head["NumParents"] = len(self.parents)
        head["BlockedSPKIs"] = [_b64(s) for s in self.blocked_spkis]
        # Google's generator writes both interception lists, as null when empty.
        head["KnownInterceptionSPKIs"] = _b64_list(self.known_interception_spkis)
        head["BlockedInterceptionSPKIs"] = _b64_list(self.blocked_interception_spkis)
        if self.limited_subjects is not None:
            head["LimitedSubjects"] = self.limited_subjects
        if self.not_after is not None:
            head["NotAfter"] = self.not_after

        return head

    def num_serials(self) -> int:
        """Total number of serials over all parents."""
        return sum(len(s) for s in self.parents.values())

    def check_spki(self, spki_sha256: bytes) -> Status:
        """REVOKED when the SPKI hash is blocked, else GOOD."""
        return Status.REVOKED if spki_sha256 in set(self.blocked_spkis) else Status.GOOD

    def check_serial(self, parent_spki_sha256: bytes, serial: bytes) -> Status:
        """Chrome's CheckSerial: UNKNOWN if the parent is absent, REVOKED if listed."""
        serials = self.parents.get(parent_spki_sha256)
        if serials is None:
            return Status.UNKNOWN

        wanted = strip_serial(serial)
        listed = any(strip_serial(s) == wanted for s in serials)

        return Status.REVOKED if listed else Status.GOOD

    def check_chain(
        self, chain: Sequence[tuple[bytes, bytes]], *, now: int | None = None
    ) -> Status:
        """Check a chain given leaf first as (spki_sha256, serial) pairs.

        Walks from the root down as Chrome does: any blocked SPKI or listed serial
        revokes the chain; otherwise the leaf's own result decides (GOOD only when
        its parent is covered). An expired CRLSet (NotAfter before `now`) gives UNKNOWN
        unless something is revoked.
        """
        if not chain:
            raise ValueError("empty chain")

        result = Status.UNKNOWN
        parent: bytes | None = None
        for spki, serial in reversed(chain):
            if self.check_spki(spki) is Status.REVOKED:
                return Status.REVOKED
            if parent is not None:
                result = self.check_serial(parent, serial)
                if result is Status.REVOKED:
                    return Status.REVOKED
            parent = spki
        if now is not None and self.not_after is not None and now > self.not_after:
            return Status.UNKNOWN

        return result


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _b64_list(values: list[bytes] | None) -> list[str] | None:
    return None if values is None else [_b64(v) for v in values]


def encode(crlset: CRLSet) -> bytes:
    """Serialise a CRLSet byte-exactly in Chrome's format."""
    header_bytes = _header_bytes(crlset)
    if len(header_bytes) > 0xFFFF:
        raise ValueError(f"CRLSet header is {len(header_bytes)} bytes; the format allows 65535")

    out = io.BytesIO()
    out.write(struct.pack("<H", len(header_bytes)))
    out.write(header_bytes)
    for parent, serials in crlset.parents.items():
        if len(parent) != SPKI_HASH_LEN:
            raise ValueError(f"parent SPKI hash must be 32 bytes, got {len(parent)}")
        out.write(parent)
        out.write(struct.pack("<I", len(serials)))
        for serial in serials:
            if len(serial) > 255:
                raise ValueError(f"serial {serial.hex()!r} is longer than 255 bytes")
            out.write(struct.pack("<B", len(serial)))
            out.write(serial)

    return out.getvalue()


def _header_bytes(crlset: CRLSet) -> bytes:
    if crlset.raw_header is not None:
        try:
            reparsed = _parse_header(json.loads(crlset.raw_header), "<raw header>")
        except (CRLSetError, ValueError):
            reparsed = None
        if reparsed is not None and _same_header(reparsed, crlset):
            return crlset.raw_header

    return json.dumps(crlset.header(), separators=(",", ":")).encode("utf-8")


def _same_header(parsed: tuple[CRLSet, int], crlset: CRLSet) -> bool:
    head, num_parents = parsed
    return (
        num_parents == len(crlset.parents)
        and head.sequence == crlset.sequence
        and head.not_after == crlset.not_after
        and head.delta_from == crlset.delta_from
        and head.blocked_spkis == crlset.blocked_spkis
        and head.known_interception_spkis == crlset.known_interception_spkis
        and head.blocked_interception_spkis == crlset.blocked_interception_spkis
        and head.limited_subjects == crlset.limited_subjects
    )


def write(crlset: CRLSet, path: Path) -> int:
    """Write a CRLSet file; returns its size in bytes."""
    data = encode(crlset)
    path.write_bytes(data)

    return len(data)


def _int_field(head: dict[str, Any], name: str, path: str, *, required: bool) -> int | None:
    value = head.get(name)
    if value is None:
        if required:
            raise CRLSetError(path, 2, f"header field {name} is missing")
        return None
    # JSON true/false are ints in Python; Chrome rejects them.
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise CRLSetError(path, 2, f"header field {name} is not an integer: {value!r}")

    return int(value)


def _hash_list(head: dict[str, Any], name: str, path: str) -> list[bytes] | None:
    value = head.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise CRLSetError(path, 2, f"header field {name} is not a list")

    hashes = []
    for item in value:
        if not isinstance(item, str):
            raise CRLSetError(path, 2, f"{name} entry {item!r} is not a string")
        try:
            decoded = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CRLSetError(path, 2, f"{name} entry {item!r} is not base64") from exc
        if len(decoded) != SPKI_HASH_LEN:
            raise CRLSetError(path, 2, f"{name} entry {item!r} is not a SHA-256 hash")
        hashes.append(decoded)

    return hashes


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _parse_header(head: Any, path: str) -> tuple[CRLSet, int]:
    if not isinstance(head, dict):
        raise CRLSetError(path, 2, "header is not a JSON object")
    if head.get("ContentType") != CONTENT_TYPE:
        raise CRLSetError(path, 2, f"ContentType is {head.get('ContentType')!r}, not 'CRLSet'")
    version = _int_field(head, "Version", path, required=False)
    if version not in (None, FILE_VERSION):
        raise CRLSetError(path, 2, f"unsupported Version {version}")

    num_parents = _int_field(head, "NumParents", path, required=True)
    assert num_parents is not None
    if num_parents < 0:
        raise CRLSetError(path, 2, f"NumParents is negative: {num_parents}")
    limited = head.get("LimitedSubjects")
    if limited is not None and not (
        isinstance(limited, dict) and all(_is_str_list(v) for v in limited.values())
    ):
        raise CRLSetError(path, 2, "LimitedSubjects is not an object of string lists")

    crlset = CRLSet(
        sequence=_int_field(head, "Sequence", path, required=False) or 0,
        not_after=_int_field(head, "NotAfter", path, required=False),
        delta_from=_int_field(head, "DeltaFrom", path, required=False),
        blocked_spkis=_hash_list(head, "BlockedSPKIs", path) or [],
        known_interception_spkis=_hash_list(head, "KnownInterceptionSPKIs", path),
        blocked_interception_spkis=_hash_list(head, "BlockedInterceptionSPKIs", path),
        limited_subjects=limited,
    )

    return crlset, num_parents


def parse(data: bytes, path: str | Path = "<bytes>") -> CRLSet:
    """Parse the bytes of a raw CRLSet (not CRX-wrapped).

    Raises CRLSetError naming the file and byte offset when the data is truncated,
    the header is not a CRLSet header, a count disagrees with the data or bytes trail.
    """
    path = str(path)
    if len(data) < 2:
        raise CRLSetError(path, 0, f"truncated: {len(data)} bytes, no header length")
    (header_len,) = struct.unpack_from("<H", data, 0)
    if 2 + header_len > len(data):
        raise CRLSetError(
            path, 2, f"truncated header: {header_len} bytes announced, {len(data) - 2} present"
        )

    raw_header = data[2 : 2 + header_len]
    try:
        head = json.loads(raw_header.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CRLSetError(path, 2 + exc.start, "header is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise CRLSetError(path, 2 + exc.pos, f"header is not JSON ({exc.msg})") from exc
    except RecursionError as exc:
        raise CRLSetError(path, 2, "header JSON nests too deeply") from exc
    crlset, num_parents = _parse_header(head, path)
    crlset.raw_header = raw_header

    offset = 2 + header_len
    for index in range(num_parents):
        if offset + SPKI_HASH_LEN + 4 > len(data):
            raise CRLSetError(path, offset, f"truncated record {index + 1} of {num_parents}")
        parent = data[offset : offset + SPKI_HASH_LEN]
        if parent in crlset.parents:
            raise CRLSetError(path, offset, f"parent {parent.hex()} appears twice")
        (count,) = struct.unpack_from("<I", data, offset + SPKI_HASH_LEN)
        offset += SPKI_HASH_LEN + 4
        # Each serial takes at least its length byte: refuse absurd counts before looping.
        if offset + count > len(data):
            raise CRLSetError(
                path,
                offset - 4,
                f"parent {parent.hex()} claims {count} serials "
                f"but only {len(data) - offset} bytes remain",
            )
        serials = []
        for _ in range(count):
            length = data[offset] if offset < len(data) else 0
            if offset >= len(data) or offset + 1 + length > len(data):
                raise CRLSetError(
                    path, offset, f"bad serial length {length} under parent {parent.hex()}"
                )
            serials.append(data[offset + 1 : offset + 1 + length])
            offset += 1 + length
        crlset.parents[parent] = serials
    if offset != len(data):
        raise CRLSetError(
            path, offset, f"{len(data) - offset} trailing bytes after {num_parents} parent records"
        )

    return crlset


def unwrap_crx3(data: bytes, path: str | Path = "<bytes>") -> bytes:
    """The `crl-set` member of a CRX3 package (Cr24, version 3, header, zip)."""
    path = str(path)
    if len(data) < 12 or data[:4] != CRX3_MAGIC:
        raise CRLSetError(path, 0, "not a CRX package (no Cr24 magic)")
    version, header_size = struct.unpack_from("<II", data, 4)
    if version != CRX3_VERSION:
        raise CRLSetError(path, 4, f"CRX version {version}, only 3 is supported")
    if 12 + header_size > len(data):
        raise CRLSetError(path, 8, f"truncated CRX header: {header_size} bytes announced")

    archive = data[12 + header_size :]
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            return zf.read(CRX_MEMBER)
    except KeyError as exc:
        raise CRLSetError(path, 12 + header_size, f"zip holds no {CRX_MEMBER!r} member") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as exc:
        raise CRLSetError(path, 12 + header_size, f"broken zip archive ({exc})") from exc


def loads(data: bytes, path: str | Path = "<bytes>") -> CRLSet:
    """Parse a raw or CRX3-wrapped CRLSet."""
    if data[:4] == CRX3_MAGIC:
        data = unwrap_crx3(data, path)

    return parse(data, path)


def read(path: Path) -> CRLSet:
    """Read a CRLSet file, raw or CRX3-wrapped."""
    return loads(path.read_bytes(), path)


@dataclass(frozen=True)
class CRLSetDiff:
    """What changed from CRLSet `a` to CRLSet `b`."""

    header_changes: dict[str, tuple[Any, Any]]
    parents_added: list[bytes]
    parents_removed: list[bytes]
    serials_added: dict[bytes, list[bytes]]
    serials_removed: dict[bytes, list[bytes]]
    blocked_added: list[bytes]
    blocked_removed: list[bytes]

    def is_empty(self) -> bool:
        """True when the two sets are equivalent (same header fields and entries)."""
        return not (
            self.header_changes
            or self.parents_added
            or self.parents_removed
            or self.serials_added
            or self.serials_removed
            or self.blocked_added
            or self.blocked_removed
        )


def diff(a: CRLSet, b: CRLSet) -> CRLSetDiff:
    """Compare two CRLSets; serials compare with leading zero bytes stripped."""
    head_a, head_b = a.header(), b.header()
    changes = {
        k: (head_a.get(k), head_b.get(k))
        for k in (
            "Sequence",
            "NotAfter",
            "DeltaFrom",
            "KnownInterceptionSPKIs",
            "BlockedInterceptionSPKIs",
            "LimitedSubjects",
        )
        if head_a.get(k) != head_b.get(k)
    }
    added: dict[bytes, list[bytes]] = {}
    removed: dict[bytes, list[bytes]] = {}
    for parent in a.parents.keys() & b.parents.keys():
        old = {strip_serial(s) for s in a.parents[parent]}
        new = {strip_serial(s) for s in b.parents[parent]}
        if new - old:
            added[parent] = sorted(new - old)
        if old - new:
            removed[parent] = sorted(old - new)

    return CRLSetDiff(
        header_changes=changes,
        parents_added=[p for p in b.parents if p not in a.parents],
        parents_removed=[p for p in a.parents if p not in b.parents],
        serials_added=added,
        serials_removed=removed,
        blocked_added=[s for s in b.blocked_spkis if s not in set(a.blocked_spkis)],
        blocked_removed=[s for s in a.blocked_spkis if s not in set(b.blocked_spkis)],
    )
