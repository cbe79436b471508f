"""The CRLSet format: byte-exact read/write, CRX3 unwrapping, Chrome's lookup rules, diffs."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import struct
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certsentry_analysis.revocation import crlset as fmt
from certsentry_analysis.revocation.crlset import CRLSet, CRLSetError, Status

ROOT = hashlib.sha256(b"root spki").digest()
INTER = hashlib.sha256(b"intermediate spki").digest()
LEAF = hashlib.sha256(b"leaf spki").digest()
OTHER = hashlib.sha256(b"unrelated spki").digest()


def _raw(header: dict[str, object] | bytes, records: bytes = b"") -> bytes:
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<H", len(head)) + head + records


def _record(parent: bytes, serials: list[bytes]) -> bytes:
    body = b"".join(struct.pack("<B", len(s)) + s for s in serials)
    return parent + struct.pack("<I", len(serials)) + body


def _crx3(member: bytes, name: str = "crl-set") -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, member)
        zf.writestr("manifest.json", "{}")
    header = b"\x12\x04fake-protobuf-header"
    return b"Cr24" + struct.pack("<II", 3, len(header)) + header + archive.getvalue()


def test_written_crlset_round_trips_byte_identically() -> None:
    original = CRLSet(
        sequence=9941,
        not_after=1754300059,
        blocked_spkis=[OTHER],
        known_interception_spkis=None,
        blocked_interception_spkis=[LEAF],
        parents={INTER: [b"\x01", b"\x00\x80", b"\x36\x35\x78"], ROOT: []},
    )
    data = fmt.encode(original)
    back = fmt.parse(data)

    assert back == original
    assert fmt.encode(back) == data
    assert list(back.parents) == [INTER, ROOT]


def test_chrome_header_layout_and_field_order() -> None:
    data = fmt.encode(CRLSet(sequence=5, not_after=7, parents={ROOT: [b"\x02"]}))
    (length,) = struct.unpack_from("<H", data)
    header = data[2 : 2 + length].decode()

    assert header == (
        '{"Version":0,"ContentType":"CRLSet","Sequence":5,"DeltaFrom":0,"NumParents":1,'
        '"BlockedSPKIs":[],"KnownInterceptionSPKIs":null,"BlockedInterceptionSPKIs":null,'
        '"NotAfter":7}'
    )
    assert data[2 + length :] == ROOT + b"\x01\x00\x00\x00" + b"\x01\x02"


def test_foreign_header_bytes_survive_a_read_write_cycle() -> None:
    # Spacing and key order of another writer (Chromium's test script) are kept.
    header = (
        b'{"ContentType": "CRLSet", "Sequence": 0, "NumParents": 1, '
        b'"BlockedSPKIs": [], "Version": 0, "DeltaFrom": 0, "KnownInterceptionSPKIs": null}'
    )
    data = _raw(header, _record(ROOT, [b"\x0f\xff"]))
    crlset = fmt.parse(data)

    assert fmt.encode(crlset) == data
    assert crlset.known_interception_spkis is None
    assert crlset.not_after is None

    crlset.parents[INTER] = [b"\x05"]
    rewritten = fmt.parse(fmt.encode(crlset))
    assert rewritten.parents == {ROOT: [b"\x0f\xff"], INTER: [b"\x05"]}


def test_absent_and_null_header_fields_are_accepted() -> None:
    crlset = fmt.parse(_raw({"ContentType": "CRLSet", "NumParents": 0, "Sequence": None}))

    assert crlset.sequence == 0
    assert crlset.blocked_spkis == []
    assert crlset.delta_from is None


def test_serial_lookup_follows_chrome_rules() -> None:
    crlset = CRLSet(parents={INTER: [b"\x00\x81\x02", b"\x05"]})

    assert crlset.check_serial(INTER, b"\x81\x02") is Status.REVOKED
    assert crlset.check_serial(INTER, b"\x00\x00\x05") is Status.REVOKED
    assert crlset.check_serial(INTER, b"\x06") is Status.GOOD
    assert crlset.check_serial(OTHER, b"\x05") is Status.UNKNOWN


def test_blocked_spki_revokes_anything_under_it() -> None:
    crlset = CRLSet(blocked_spkis=[INTER], parents={ROOT: []})
    chain = [(LEAF, b"\x01"), (INTER, b"\x02"), (ROOT, b"\x03")]

    assert crlset.check_chain(chain) is Status.REVOKED
    assert CRLSet(blocked_spkis=[LEAF]).check_chain(chain) is Status.REVOKED


def test_chain_status_comes_from_the_leafs_parent() -> None:
    chain = [(LEAF, b"\x01"), (INTER, b"\x02"), (ROOT, b"\x03")]

    assert CRLSet(parents={INTER: [b"\x09"]}).check_chain(chain) is Status.GOOD
    assert CRLSet(parents={ROOT: [b"\x09"]}).check_chain(chain) is Status.UNKNOWN
    assert CRLSet(parents={ROOT: [b"\x00\x02"]}).check_chain(chain) is Status.REVOKED
    assert CRLSet(parents={INTER: [b"\x01"]}).check_chain(chain) is Status.REVOKED
    expired = CRLSet(not_after=100, parents={INTER: []})
    assert expired.check_chain(chain, now=50) is Status.GOOD
    assert expired.check_chain(chain, now=200) is Status.UNKNOWN


ONE = {"ContentType": "CRLSet", "NumParents": 1}
BODY = 2 + len(json.dumps(ONE))  # first byte after the header of ONE


@pytest.mark.parametrize(
    ("data", "offset", "message"),
    [
        (b"\x05", 0, "no header length"),
        (b"\x40\x00{}", 2, "truncated header"),
        (_raw(b"{not json"), 3, "not JSON"),
        (_raw({"ContentType": "CRLSet"}), 2, "NumParents is missing"),
        (_raw({"ContentType": "Other", "NumParents": 0}), 2, "ContentType"),
        (_raw({"ContentType": "CRLSet", "NumParents": True}), 2, "not an integer"),
        (_raw({"ContentType": "CRLSet", "NumParents": 0, "BlockedSPKIs": ["!!"]}), 2, "base64"),
        (_raw(ONE, ROOT[:10]), BODY, "truncated record 1"),
        (_raw(ONE, ROOT + b"\xff\x00\x00\x00"), BODY + 32, "claims 255 serials"),
        (_raw(ONE, ROOT + b"\x01\x00\x00\x00\x05\x01"), BODY + 36, "bad serial length 5"),
        (_raw(ONE, _record(ROOT, []) + b"xy"), BODY + 36, "2 trailing bytes"),
    ],
)
def test_broken_files_raise_an_error_naming_file_and_offset(
    data: bytes, offset: int, message: str
) -> None:
    with pytest.raises(CRLSetError, match=message) as info:
        fmt.parse(data, "sample.bin")

    assert info.value.offset == offset
    assert str(info.value).startswith(f"sample.bin at byte {offset}: ")


def test_duplicate_parent_is_inconsistent() -> None:
    data = _raw({"ContentType": "CRLSet", "NumParents": 2}, _record(ROOT, []) * 2)

    with pytest.raises(CRLSetError, match="appears twice"):
        fmt.parse(data)


def test_crx3_package_is_unwrapped() -> None:
    inner = fmt.encode(CRLSet(sequence=3, parents={ROOT: [b"\x07"]}))

    assert fmt.unwrap_crx3(_crx3(inner)) == inner
    assert fmt.loads(_crx3(inner)).sequence == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"Cr24" + struct.pack("<II", 2, 0), "CRX version 2"),
        (b"Cr24" + struct.pack("<II", 3, 999), "truncated CRX header"),
        (b"Cr24" + struct.pack("<II", 3, 0) + b"not a zip", "broken zip"),
        (_crx3(b"x", name="other"), "no 'crl-set' member"),
    ],
)
def test_broken_crx3_raises(data: bytes, message: str) -> None:
    with pytest.raises(CRLSetError, match=message):
        fmt.loads(data, "pkg.crx")


def test_diff_reports_one_added_serial_ignoring_leading_zeros() -> None:
    a = CRLSet(sequence=1, parents={ROOT: [b"\x00\x10"], INTER: [b"\x01"]})
    b = CRLSet(sequence=2, parents={ROOT: [b"\x10", b"\x11"], INTER: [b"\x01"]})
    d = fmt.diff(a, b)

    assert d.serials_added == {ROOT: [b"\x11"]}
    assert d.serials_removed == {}
    assert d.header_changes == {"Sequence": (1, 2)}
    assert fmt.diff(a, a).is_empty()


def test_serial_bytes_are_der_integer_contents() -> None:
    assert fmt.serial_bytes(0) == b"\x00"
    assert fmt.serial_bytes(0x7F) == b"\x7f"
    assert fmt.serial_bytes(0x80) == b"\x00\x80"
    with pytest.raises(ValueError, match="negative"):
        fmt.serial_bytes(-1)


hashes = st.binary(min_size=32, max_size=32)
crlsets = st.builds(
    CRLSet,
    sequence=st.integers(0, 2**40),
    not_after=st.none() | st.integers(0, 2**40),
    delta_from=st.none() | st.integers(0, 100),
    blocked_spkis=st.lists(hashes, max_size=3),
    known_interception_spkis=st.none() | st.lists(hashes, max_size=2),
    blocked_interception_spkis=st.none() | st.lists(hashes, max_size=2),
    parents=st.dictionaries(hashes, st.lists(st.binary(max_size=20), max_size=5), max_size=4),
)


@given(crlsets)
def test_any_crlset_round_trips(crlset: CRLSet) -> None:
    data = fmt.encode(crlset)

    assert fmt.parse(data) == crlset
    assert fmt.encode(fmt.parse(data)) == data


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_garbage_raises_only_crlset_error(data: bytes) -> None:
    with contextlib.suppress(CRLSetError):
        fmt.loads(data)


@settings(max_examples=300)
@given(crlsets, st.data())
def test_damaged_crlset_raises_only_crlset_error(crlset: CRLSet, data: st.DataObject) -> None:
    raw = bytearray(fmt.encode(crlset))
    cut = data.draw(st.integers(0, len(raw)))
    if data.draw(st.booleans()) and raw:
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    with contextlib.suppress(CRLSetError):
        fmt.parse(bytes(raw[:cut]))


def test_blocked_spki_header_uses_base64_of_sha256() -> None:
    data = fmt.encode(CRLSet(blocked_spkis=[LEAF]))

    assert base64.b64encode(LEAF) in data
