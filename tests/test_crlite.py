"""CRLite: the filter cascade answers enrolled keys exactly; stashes and deltas are sized right."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certsentry_analysis.cli import main
from certsentry_analysis.revocation import crlite
from certsentry_analysis.revocation.crlite import CRLiteError

ISSUER = bytes(range(32))


def _keys(n: int, seed: int) -> set[bytes]:
    rng = random.Random(seed)
    return {crlite.crlite_key(ISSUER, rng.randbytes(16)) for _ in range(n)}


def test_cascade_answers_every_enrolled_key_correctly() -> None:
    revoked, valid = _keys(500, 1), _keys(20_000, 2)
    built = crlite.build_cascade(revoked, valid)

    assert crlite.wrong_answers(built, revoked, valid) == 0
    assert built.layers >= 2
    assert built.size_bytes == len(built.to_bytes())
    assert 4 < built.bits_per_revocation < 40


def test_cascade_survives_a_reload() -> None:
    revoked, valid = _keys(300, 3), _keys(6_000, 4)
    reloaded = crlite.load_cascade(crlite.build_cascade(revoked, valid).to_bytes())

    assert all(k in reloaded for k in revoked)
    assert not any(k in reloaded for k in valid)


def test_unenrolled_keys_see_roughly_the_first_layer_error_rate() -> None:
    revoked, valid = _keys(1_000, 5), _keys(20_000, 6)
    built = crlite.build_cascade(revoked, valid)
    rate = crlite.false_positive_rate(built, revoked | valid, probes=5_000)

    # CRLite's first layer is sized for include / (sqrt(2) * exclude) = 3.5 %.
    assert 0.005 < rate < 0.08


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(CRLiteError, match="both revoked and valid"):
        crlite.build_cascade({b"a"}, {b"a", b"b"})
    with pytest.raises(CRLiteError, match="more revoked"):
        crlite.build_cascade(_keys(10, 7), _keys(5, 8))
    with pytest.raises(CRLiteError, match="no valid keys"):
        crlite.build_cascade({b"a"}, set())
    with pytest.raises(CRLiteError, match="not a filter cascade"):
        crlite.load_cascade(b"\x07\x00", "x.mlbf")


def test_empty_revocation_set_gives_an_empty_cascade() -> None:
    built = crlite.build_cascade(set(), _keys(10, 9))

    assert built.n_revoked == 0
    assert not built.is_revoked(next(iter(_keys(1, 10))))


@settings(max_examples=50)
@given(
    st.dictionaries(
        st.binary(min_size=1, max_size=32),
        st.lists(st.binary(max_size=20), min_size=1, max_size=5),
        max_size=5,
    )
)
def test_stash_round_trips_and_is_sized_exactly(stash: dict[bytes, list[bytes]]) -> None:
    data = crlite.write_stash(stash)

    assert crlite.read_stash(data) == stash
    assert len(data) == crlite.stash_bytes(stash)


def test_truncated_stash_is_an_error() -> None:
    data = crlite.write_stash({ISSUER: [b"\x01\x02"]})

    with pytest.raises(CRLiteError, match="truncated"):
        crlite.read_stash(data[:-1], "s.stash")


def test_daily_deltas_group_new_revocations_by_day() -> None:
    revs = pd.DataFrame(
        {
            "issuer_spki_sha256": [ISSUER.hex()] * 3,
            "serial_hex": ["1", "ff", "100"],
            "revoked_at": [datetime(2012, 6, 1, 3), datetime(2012, 6, 1, 9), datetime(2012, 6, 2)],
        }
    )
    deltas = crlite.daily_deltas(revs)

    # Day 1: one issuer entry (4 + 1 + 32) plus serials 01 and 00ff with length bytes.
    assert deltas["new_revocations"].tolist() == [2, 1]
    assert deltas["delta_bytes"].tolist() == [37 + 2 + 3, 37 + 3]


def test_published_figures_are_in_the_comparison() -> None:
    built = crlite.build_cascade(_keys(100, 11), _keys(2_000, 12))
    table = crlite.published_comparison(built, 1000.0)

    assert len(table) == 3
    clubcard = table[table["system"].str.contains("clubcard")].iloc[0]
    assert clubcard["filter_bytes"] == 6_700_000
    assert clubcard["bits_per_revocation"] == pytest.approx(6.7)


def test_cli_inspects_cascades_and_stashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cascade_file, stash_file = tmp_path / "filter", tmp_path / "stash"
    cascade_file.write_bytes(crlite.build_cascade(_keys(50, 13), _keys(1_000, 14)).to_bytes())
    stash_file.write_bytes(crlite.write_stash({ISSUER: [b"\x01", b"\x02\x03"]}))

    assert main(["crlite", "inspect", str(cascade_file)]) == 0
    out = capsys.readouterr().out
    assert "version:  2" in out and "layer 1:" in out and "MURMUR3" in out
    assert main(["crlite", "inspect", "--stash", str(stash_file)]) == 0
    assert "serials: 2" in capsys.readouterr().out
    assert main(["crlite", "inspect", str(stash_file)]) == 2
