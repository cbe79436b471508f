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
# # 4. Hard-fail breakage
#
# **Question.** If browsers hard-failed when a revocation check got no answer, how many
# connections would break, as a function of the timeout and the policy? Which policies
# stay under a tolerable breakage rate, and what would the web look like if every CA
# were as reliable as the best one?
#
# **Data.** The warehouse with its `results` tables (`make data ingest analyze`).

# %%
# %matplotlib inline
import logging
from dataclasses import replace

import duckdb
import ipywidgets as widgets
import pandas as pd
from IPython.display import display

from certsentry_analysis import breakage, config, figures
from certsentry_analysis.analysis import load_table

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", force=True)
paths = config.paths()
DB = paths.database
con = duckdb.connect(str(DB), read_only=True)

# %% [markdown]
# ## The policies replayed
#
# Each policy says which failed checks break a connection (soft-fail: none; hard-fail:
# those of issuers in scope), the per-attempt timeout T, retries, whether OCSP may fall
# back to the CRL, and what share of sites staple. The breakage model replays every
# observed chain validation under each policy for 50 timeouts from 100 ms to 30 s.

# %%
load_table(con, "breakage_policies")[["policy", "description", "scope_resolved", "attribution"]]

# %% [markdown]
# ## Breakage curves
#
# The share of chain validations that would fail, against T, with 95% bands from a
# bootstrap over clients. Failures the statistics layer attributes to the client's own
# network (captive portals, proxies) are removed by default: hard-fail would break those
# connections too, but they say nothing about the CAs. The dashed line is the breakage
# budget. This is the report's figure.

# %%
curves = load_table(con, "breakage_curves")
frontier = load_table(con, "viability_frontier")
side = "removed" if (curves["client_side"] == "removed").any() else "included"
validations = curves[(curves["client_side"] == side) & (curves["unit"] == "validation")]
figures.breakage_curves(
    validations,
    series="policy",
    timeout_ms="timeout_ms",
    breakage="breakage",
    low="ci_low",
    high="ci_high",
    ylabel="Chain validations that would fail (%)",
    threshold=float(frontier["budget_validations"].iloc[0]),
)

# %% [markdown]
# Three units of breakage: single checks, chain validations, and client-days (a day on
# which a client met at least one broken connection), at a few points of the grid:

# %%
grid = sorted(curves["timeout_ms"].unique())
shown = [*grid[::10], grid[-1]]
curves[(curves["client_side"] == side) & curves["timeout_ms"].isin(shown)].pivot_table(
    index=["policy", "timeout_ms"], columns="unit", values="breakage"
)

# %% [markdown]
# What the waiting costs: the mean wait per validation and the tail over validations that
# made a live check, at the same timeouts.

# %%
waiting = load_table(con, "waiting_time")
waiting[waiting["timeout_ms"].isin(shown)].set_index(["policy", "timeout_ms"])

# %% [markdown]
# ## The viability frontier
#
# For each policy, the smallest T at which breakage stays within budget (at most 1 in
# 10,000 validations and 1% of client-days by default) at every larger T; where no T
# does, `viable` is false and the rates are those at 30 s: failures no timeout cures.

# %%
frontier

# %% [markdown]
# ### Try another budget
#
# The frontier is a function of the curves and a budget, so it can be recomputed on the
# spot with `breakage.viability_frontier`. Move the sliders (in JupyterLab) to see which
# policies become viable; run headlessly, the cell shows the default budget.


# %%
def show_frontier(validations_budget: float = 1e-4, client_days_budget: float = 0.01) -> None:
    """The frontier under one budget, and the curves with that budget drawn in."""
    budget = breakage.Budget(validations=validations_budget, client_days=client_days_budget)
    table = breakage.viability_frontier(curves, waiting, budget)
    display(
        table[table["client_side"] == side][
            ["policy", "viable", "timeout_ms", "validation_breakage", "mean_wait_ms"]
        ]
    )
    display(
        figures.breakage_curves(
            validations,
            series="policy",
            timeout_ms="timeout_ms",
            breakage="breakage",
            low="ci_low",
            high="ci_high",
            threshold=validations_budget,
        )
    )


show_frontier()

# %%
controls = widgets.interact(
    show_frontier,
    validations_budget=widgets.FloatLogSlider(value=1e-4, base=10, min=-6, max=-1, step=0.25),
    client_days_budget=widgets.FloatLogSlider(value=0.01, base=10, min=-4, max=0, step=0.25),
)
# %% [markdown]
# Per CA: could hard-fail be switched on for one CA's certificates alone? Its own
# breakage at its smallest viable T, and whether it breaks the budget by itself.

# %%
load_table(con, "frontier_by_ca")

# %% [markdown]
# ## Who causes the breakage
#
# The broken validations of each hard-fail policy at the frontier's T, split by CA and
# responder.

# %%
load_table(con, "breakage_attribution")

# %% [markdown]
# ## The best-CA counterfactual
#
# What would hard-fail break if every responder answered like the best CA's? The gap
# between the curves is what CAs themselves could fix.

# %%
counter = load_table(con, "best_ca_counterfactual")
counter = counter[(counter["client_side"] == side) & (counter["unit"] == "validation")]
best = counter["best_ca"].dropna().iloc[0]
both = pd.concat(
    [
        counter.assign(
            series="as observed",
            b=counter["observed"],
            lo=counter["observed_ci_low"],
            hi=counter["observed_ci_high"],
        ),
        counter.assign(
            series=f"every CA like {best}",
            b=counter["counterfactual"],
            lo=counter["ci_low"],
            hi=counter["ci_high"],
        ),
    ],
    ignore_index=True,
)
figures.breakage_curves(
    both,
    series="series",
    timeout_ms="timeout_ms",
    breakage="b",
    low="lo",
    high="hi",
    ylabel="Chain validations that would fail (%)",
)

# %% [markdown]
# ## What soft-fail lets through, and what the clients saw
#
# Soft-fail accepts a certificate whose check got no answer, revoked or not: the share of
# checks of revoked certificates that went unanswered. Then the natural experiment:
# clients already configured to hard-fail (failure mode 1 or 2) against what the model
# predicts for them. Groups of fewer than 10 clients keep their row with the rates blanked.

# %%
load_table(con, "soft_fail_hole")

# %%
load_table(con, "natural_experiment")

# %% [markdown]
# ## A policy of your own
#
# `breakage.build_tables` replays any `Policy`: here hard-fail for all CAs with two
# retries and half the sites stapling, against the preset. A coarser grid of timeouts and
# fewer bootstrap replicates keep it quicker, with correspondingly rougher bands; the
# replay reads every chain validation again, so it takes longer on larger datasets.

# %%
mine = replace(
    breakage.get_policy("hard-fail-all"),
    name="mine: 2 retries, 50% stapling",
    retries=2,
    stapling_share=0.5,
)
replayed = breakage.build_tables(
    con,
    policies=[breakage.get_policy("hard-fail-all"), mine],
    grid=breakage.timeout_grid(points=12),
    replicates=50,
)["breakage_curves"]
mine_curves = replayed[(replayed["client_side"] == side) & (replayed["unit"] == "validation")]
figures.breakage_curves(
    mine_curves,
    series="policy",
    timeout_ms="timeout_ms",
    breakage="breakage",
    low="ci_low",
    high="ci_high",
    ylabel="Chain validations that would fail (%)",
)

# %%
con.close()

# %% [markdown]
# **Next.** Notebook 5 looks at the alternative to online checks: pushed revocation lists.
