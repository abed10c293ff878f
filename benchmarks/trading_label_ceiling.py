"""Trading, synthetic markets: how well can a price-defined regime target agree with the simulator's true regimes?

Regime identification (issue 16's synthetic goal: 80%) is the balanced accuracy of a method's flat days against the
days the simulator is in a bear or crisis regime. A model trained on the ``regime21`` target learns *that target*;
this script scores the target's own labels (computed with hindsight, i.e. a perfect predictor of the target) against
the true regimes, next to a detector that knows the true regime of an earlier day exactly. It simulates fresh markets
with the project's generator (seeds 100.., never the test markets) and writes
``data/eval/trading/regime-label-ceiling.json``.

Run from the repository root: ``python benchmarks/trading_label_ceiling.py`` (~10 s).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from metasuite.domains.trading.evaluation import RISK_OFF
from metasuite.domains.trading.synth import simulate_market
from metasuite.domains.trading.targets import forward_drawdown, forward_return, make_target

SEEDS = range(100, 110)
N_DAYS, N_ASSETS = 2520, 2


def balanced(call: np.ndarray, fact: np.ndarray) -> float:
    """Balanced accuracy of boolean calls (risk-off) against boolean facts."""
    return 0.5 * (float(np.mean(call[fact])) + float(np.mean(~call[~fact])))


def main() -> None:
    target = make_target("regime21")
    scores: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        scores.setdefault(key, []).append(value)

    for seed in SEEDS:
        market = simulate_market(N_DAYS, N_ASSETS, seed=seed)
        fact = market.regimes.isin(RISK_OFF).to_numpy()
        for ticker in market.tickers:
            close = market.prices[ticker]["close"].to_numpy()
            y, known = target.labels(close)
            add("regime21 label of day t (hindsight: the next 21 days)", balanced((y == 0)[known], fact[known]))
            logc = np.log(close)
            for back in (5, 10):  # the same rule on a window starting `back` days before t
                lagged = np.roll(logc, back)
                fr, fd = forward_return(lagged, 21), forward_drawdown(lagged, 21)
                bear = (fr < math.log1p(target.bear_return)) | (fd < math.log1p(-target.bear_drawdown))
                days = np.arange(logc.size)
                ok = (days >= back) & (days + 21 - back < logc.size)
                add(f"same rule, window t-{back} .. t+{21 - back} (hindsight)", balanced(bear[ok], fact[ok]))
        for lag in (1, 5, 10):
            add(f"true regime of day t-{lag} (a perfect detector, {lag}-day lag)", balanced(fact[:-lag], fact[lag:]))
    out = {
        "what": "balanced accuracy (risk-off = bear or crisis) against the simulator's true regimes, mean over "
        f"{len(SEEDS)} fresh synthetic markets x {N_ASSETS} assets x {N_DAYS} days "
        f"(seeds {SEEDS.start}..{SEEDS.stop - 1})",
        "results": {k: float(np.mean(v)) for k, v in scores.items()},
    }
    path = Path("data/eval/trading/regime-label-ceiling.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    for k, v in out["results"].items():
        print(f"{v:6.1%}  {k}")


if __name__ == "__main__":
    main()
