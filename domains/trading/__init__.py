"""Market-regime trading: adapt a next-day direction model to the current regime, backtest it honestly.

* :mod:`domains.trading.synth` -- synthetic multi-asset regime-switching market with ground truth;
* :mod:`domains.trading.data` -- yfinance (cached), CSV folder and ``arch`` index loaders, validation;
* :mod:`domains.trading.features` -- causal features, next-day outcomes, support standardisation;
* :mod:`domains.trading.tasks` -- (asset, date) tasks: support, embargo, query;
* :mod:`domains.trading.domain` -- splits by time and ticker, defaults, the domain;
* :mod:`domains.trading.backtest` -- vectorised backtest with costs, performance and regime breakdown;
* :mod:`domains.trading.strategies` -- buy & hold, MA 50/200, 12-1 momentum, 2-state HMM;
* :mod:`domains.trading.evaluation` -- the walk-forward evaluation behind ``metasuite eval trading``.

Not investment advice.
"""

from domains.trading.domain import TradingDomain, TradingSampler

__all__ = ["TradingDomain", "TradingSampler"]
