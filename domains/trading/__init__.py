"""Market-regime trading: adapt a next-day direction model to the current regime, backtest it honestly.

* :mod:`metasuite.domains.trading.synth` -- synthetic multi-asset regime-switching market with ground truth;
* :mod:`metasuite.domains.trading.data` -- yfinance (cached), CSV folder and ``arch`` index loaders, validation;
* :mod:`metasuite.domains.trading.features` -- causal features, next-day outcomes, support standardisation;
* :mod:`metasuite.domains.trading.tasks` -- (asset, date) tasks: support, embargo, query;
* :mod:`metasuite.domains.trading.domain` -- splits by time and ticker, defaults, the domain;
* :mod:`metasuite.domains.trading.backtest` -- vectorised backtest with costs, performance and regime breakdown;
* :mod:`metasuite.domains.trading.strategies` -- buy & hold, MA 50/200, 12-1 momentum, 2-state HMM;
* :mod:`metasuite.domains.trading.evaluation` -- the walk-forward evaluation behind ``metasuite eval trading``.

Not investment advice.
"""

from metasuite.domains.trading.domain import TradingDomain, TradingSampler

__all__ = ["TradingDomain", "TradingSampler"]
