# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. CRLSets and CRLite
#
# **Question.** How much of the revocation population do pushed lists carry? Chrome's
# CRLSet (size-capped, reason-filtered) against a Mozilla-style CRLite filter cascade:
# coverage by count, by CA and by traffic, and the window during which a revoked
# certificate still passes.
#
# **Data.** The warehouse with its `results` tables (`make data ingest analyze`) and the
# dataset's CA certificates and CRLs under `data/raw/<scenario>/pki/`, or a real CRLSet
# file you supply.

# %%
# %matplotlib inline
import logging
from datetime import UTC
from pathlib import Path

import duckdb
import pandas as pd

from certsentry_analysis import config, figures, revocation
from certsentry_analysis.analysis import load_table
from certsentry_analysis.revocation import crlset, crlset_build

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", force=True)
paths = config.paths()
SCENARIO = config.scenario()
RAW_DIR = paths.scenario_dir(SCENARIO)
DB = paths.database
con = duckdb.connect(str(DB), read_only=True)

# %% [markdown]
# ## What the analysis had to work with
#
# The revocation stage builds its lists from the dataset's CRLs (`pki/` of the raw
# folder) and weighs them by the warehouse's traffic. This table says which inputs were
# present; a missing one leaves the tables that need it empty.

# %%
load_table(con, "revocation_inputs")

# %% [markdown]
# ## CRLSet coverage
#
# A CRLSet built by Chrome's rules (reason filter, 4 h crawl delay, 250 KB cap, whole
# CRLs dropped largest first) carries only part of the revocations on the CRLs. Coverage
# overall, by revocation reason, and by issuer and CA:

# %%
cov = load_table(con, "crlset_coverage")
cov[cov["scope"].isin(["overall", "reason", "issuers", "cas"])]

# %%
by_ca = cov[cov["scope"] == "ca"].sort_values("share_carried")
figures.share_bars(by_ca, label="key", share="share_carried", xlabel="Revocations carried (%)")

# %% [markdown]
# Per issuing CA: whether its record is in the file at all (otherwise Chrome answers
# *unknown* for its certificates) and how many bytes it takes.

# %%
load_table(con, "crlset_issuer_coverage").sort_values("revocations", ascending=False)

# %% [markdown]
# Weighted by traffic: of the checks that met a revoked certificate, the share whose
# revocation the CRLSet carries. The issuer level uses every client; the certificate
# level only opted-in clients (who select themselves, so the figure may be biased).

# %%
load_table(con, "crlset_traffic_coverage")

# %% [markdown]
# ## Coverage versus size
#
# The same construction under other size caps: how much a bigger budget would buy. This
# is the report's figure.

# %%
curve = load_table(con, "crlset_size_curve")
measures = {
    "share_carried": "revocations carried",
    "traffic_share_issuer_level": "revoked-certificate checks covered",
}
long = curve.melt(
    id_vars=["size_bytes"],
    value_vars=[c for c in measures if curve[c].notna().any()],
    var_name="measure",
    value_name="share",
)
long["measure"] = long["measure"].map(measures)
figures.coverage_curve(
    long,
    size="size_bytes",
    coverage="share",
    series="measure",
    xlabel="CRLSet size (KiB, log scale)",
    ylabel="Covered (%)",
)

# %%
curve[["cap_bytes", "size_bytes", "crls_kept", "crls_dropped", "share_carried"]]

# %% [markdown]
# ## Reading a CRLSet file
#
# Set `CRLSET_FILE` to a real CRLSet to inspect it: Chrome keeps the current one in its
# profile folder (`CertificateRevocation/<version>/crl-set`), and the CRX package it
# downloads works too (the reader unwraps CRX3). Left as `None`, the notebook builds a
# CRLSet from the dataset's CRLs with the package's builder, writes it under the
# processed-data folder, and reads that file back.

# %%
CRLSET_FILE: Path | None = None

# %%
if CRLSET_FILE is None:
    crls, skipped, note = revocation.load_pki(RAW_DIR)
    print(f"{note}; {len(skipped)} CRL files skipped")
    # Built as of the last logged check, as the analysis builds its own.
    last_check = con.execute("SELECT max(ts) FROM current_checks").fetchall()[0][0]
    built = crlset_build.build_crlset(crls, as_of=last_check.replace(tzinfo=UTC))
    CRLSET_FILE = DB.parent / "notebook-crlset" / "crl-set"
    CRLSET_FILE.parent.mkdir(parents=True, exist_ok=True)
    crlset.write(built.crlset, CRLSET_FILE)
pushed = crlset.read(CRLSET_FILE)
print(f"{CRLSET_FILE}: {CRLSET_FILE.stat().st_size:,} bytes")
pushed.header()

# %% [markdown]
# One record per parent (issuing CA key). Which of the warehouse's issuers does the file
# cover, and how much of their traffic? The parent keys travel into DuckDB as a
# registered frame, not as SQL text.

# %%
parents = pd.DataFrame(
    [(key.hex(), len(serials)) for key, serials in pushed.parents.items()],
    columns=["issuer_spki_sha256", "serials"],
)
con.register("crlset_parents", parents)
covered = con.execute(
    """
    SELECT coalesce(i.organization, i.subject, '(issuer not in the dimension)') AS ca,
           count(*) AS checks,
           count(DISTINCT c.issuer_spki_sha256) AS issuers,
           count(DISTINCT p.issuer_spki_sha256) AS issuers_in_crlset,
           count(*) FILTER (WHERE p.issuer_spki_sha256 IS NOT NULL) AS checks_covered
    FROM current_checks c
    LEFT JOIN issuers i ON i.issuer_spki_sha256 = c.issuer_spki_sha256
    LEFT JOIN crlset_parents p ON p.issuer_spki_sha256 = c.issuer_spki_sha256
    GROUP BY ALL ORDER BY checks DESC
    """
).df()
con.unregister("crlset_parents")
print(f"{len(parents)} parents, {pushed.num_serials():,} serials")
covered

# %% [markdown]
# Lookups follow Chromium's rules: a parent absent from the file gives *unknown*, a listed
# serial *revoked*, any other serial *good*. (Serials themselves are not printed: with
# the issuer they identify a certificate.)

# %%
statuses = {"absent parent": pushed.check_serial(b"\x00" * 32, b"\x01")}
if pushed.num_serials():
    parent, serials = max(pushed.parents.items(), key=lambda item: len(item[1]))
    statuses["listed serial"] = pushed.check_serial(parent, serials[0])
    statuses["unlisted serial"] = pushed.check_serial(parent, b"\x7f" * 16)
{case: status.value for case, status in statuses.items()}

# %% [markdown]
# ## CRLite
#
# A Mozilla-style filter cascade encodes *every* revocation, at the price of an assumed
# valid population (the note says which). Its size next to published CRLite figures,
# and the daily update (stash) sizes over the observation period:

# %%
load_table(con, "crlite_summary").T

# %%
load_table(con, "crlite_published")

# %%
load_table(con, "crlite_deltas").describe()

# %% [markdown]
# ## Exposure windows
#
# From a certificate's revocation to the moment a client would refuse it, per mechanism,
# with and without an attacker who blocks revocation traffic (worst case in hours;
# `inf` means never protected).

# %%
exposure = load_table(con, "exposure_windows")
exposure

# %%
figures.grouped_bars(
    exposure.assign(label=exposure["mechanism"] + " / " + exposure["attacker"]),
    label="label",
    values={"share protected": "share_protected"},
    xlabel="Revocations ever protected (%)",
)

# %% [markdown]
# ## The mechanisms side by side
#
# Coverage, bandwidth, added latency, what the CA learns, and what a blocking attacker
# can do: the table the report's comparison is drawn from.

# %%
load_table(con, "revocation_mechanisms")

# %%
con.close()

# %% [markdown]
# **Next.** Notebook 6 runs the whole pipeline on a folder of your own logs.
