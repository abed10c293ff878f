"""The market-regime trading domain: adapt a model of what the next days hold to the current regime.

A task is (asset, date): the support is the recent past (``support_days`` days whose outcomes are realised
before the first decision, an ``embargo`` apart), the query the next ``query_days`` days
(:mod:`metasuite.domains.trading.tasks`). What is predicted is the ``target``
(:mod:`metasuite.domains.trading.targets`): the next day's direction (down / up, the reference and the default),
the regime of the next 21 days (bear / bull) or the tercile of their volatility. The labels are global classes,
so a meta-learner's adapted probabilities become a position (:mod:`metasuite.domains.trading.evaluation`): long /
flat on the probability of up or bull, or volatility-targeted on the predicted volatility, executed with a
one-day lag. A 21-day outcome needs an embargo of 21 days (enforced; the default embargo is the target's horizon).

Data (``source``): ``synthetic`` (default; :mod:`metasuite.domains.trading.synth`, with ground-truth regimes),
``sp500`` / ``nasdaq`` / ``indices`` (the index histories shipped in ``arch``, offline), ``csv`` (a folder
in the layout of the market-sample data, ``data_dir``) or ``yfinance`` (``tickers``; cached).

Splits are **by time** and optionally **by ticker**: the common date range after the feature warm-up
is cut into train < val < test periods (``train_end`` / ``val_end`` dates, default 60% / 20% / 20%), and
a task belongs to a period when its query days *and their outcomes* lie inside it; its support may
reach back into earlier periods (the past is known when deciding). ``test_tickers`` are held out of
training and validation altogether and are the only test assets.

The synthetic market is tested on **independent markets** instead: as many as the training markets, each
with its own regime path (assets ``TEST<market>-<asset>``, ``test_days`` business days, seeds derived from
``market_seed``), so a test period is never a few years that happen to hold one regime. Training /
validation use the first 75% / last 25% of the training markets' usable dates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from metasuite.core.domain import Domain
from metasuite.core.errors import DataError, TaskError
from metasuite.core.evaluate import MetaMethod
from metasuite.core.options import Option
from metasuite.core.tasks import Task, derive_seed
from metasuite.domains.trading.data import _ticker_from_filename, load_market
from metasuite.domains.trading.evaluation import WalkForwardEvaluation, validation_sharpe
from metasuite.domains.trading.features import FEATURE_SETS, signed_mask
from metasuite.domains.trading.jump import JUMP_PENALTY
from metasuite.domains.trading.synth import simulate_market, synth_fingerprint
from metasuite.domains.trading.targets import TARGETS, Target, check_embargo, forward_vol, make_target
from metasuite.domains.trading.tasks import AssetSeries, make_task, valid_starts, walk_forward_starts

__all__ = ["SOURCES", "AssetJob", "TradingDomain", "TradingSampler", "parse_tickers"]

SOURCES = ("synthetic", "sp500", "nasdaq", "indices", "csv", "yfinance")
#: Default synthetic market: assets and business days (20 years); the independent test market's days
#: (252 warm-up + 126 support + 5 years of test days).
SYNTH_ASSETS = 10
SYNTH_DAYS = 5040
#: Independent synthetic markets (own regime paths) the training assets are spread over: one market's
#: 20 years hold only ~30 regime episodes, too few to learn regimes rather than memorise one history.
SYNTH_MARKETS = 5
SYNTH_TEST_DAYS = 252 + 126 + 5 * 252


def parse_tickers(tickers: str | Sequence[str] | None) -> list[str] | None:
    """``"AAPL, msft"`` or a list → ``["AAPL", "MSFT"]``; None stays None."""
    if tickers is None:
        return None
    items = tickers.replace(";", ",").split(",") if isinstance(tickers, str) else list(tickers)
    out = [str(t).strip().upper() for t in items if str(t).strip()]
    return out or None


def _date(value: Any, what: str) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    try:
        return pd.Timestamp(str(value))
    except (ValueError, TypeError) as exc:
        raise DataError(f"{what} {value!r} is not a date; use YYYY-MM-DD") from exc


@dataclass(frozen=True)
class AssetJob:
    """One unit of a walk-forward's work: assets in memory (``series`` with their test day ranges ``[lo, hi)``) or
    a CSV file whose assets a worker loads itself (``path``), so that the caller never holds every ticker."""

    name: str
    series: AssetSeries | None = None
    lo: int = 0
    hi: int = 0
    path: Path | None = None


class TradingSampler:
    """Tasks of one split: random (asset, date) tasks for training, the walk-forward grid for evaluation."""

    def __init__(
        self,
        series: list[AssetSeries],
        ranges: list[tuple[int, int]],
        support: int,
        query: int,
        embargo: int,
        split: str,
    ):
        self.series, self.ranges = series, ranges
        self.support, self.query, self.embargo, self.split = support, query, embargo, split
        self._starts = [valid_starts(s, lo, hi, support, query, embargo) for s, (lo, hi) in zip(series, ranges)]
        if sum(len(s) for s in self._starts) == 0:
            spans = ", ".join(f"{s.ticker} ({hi - lo} days)" for s, (lo, hi) in zip(series, ranges))
            raise DataError(
                f"the {split} period holds no complete task (support {support} + embargo {embargo} + query {query} "
                f"days after the 252-day feature warm-up) for: {spans}. Use a longer period or fewer support days"
            )
        self._weights = torch.tensor([float(len(s)) for s in self._starts], dtype=torch.float64)
        self._stats: list[tuple[np.ndarray, np.ndarray]] | None = None

    def sample(self, generator: torch.Generator) -> Task:
        """A random task: asset in proportion to its valid dates, then a uniform date."""
        a = int(torch.multinomial(self._weights, 1, generator=generator))
        starts = self._starts[a]
        t = int(starts[int(torch.randint(len(starts), (1,), generator=generator))])
        return make_task(self.series[a], t, self.support, self.query, self.embargo, self.split)

    def pooled(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``batch_size`` random query days of random tasks, each standardised with its task's support window.

        The same rows and scaling as :meth:`sample` + :func:`~metasuite.domains.trading.tasks.make_task` (tested), but
        computed with running sums instead of one task at a time: the pooled model's training batches.
        """
        if self._stats is None:
            self._stats = []
            for s in self.series:
                x = np.nan_to_num(s.x.astype(np.float64))
                zero = np.zeros((1, x.shape[1]))
                self._stats.append((np.concatenate([zero, x.cumsum(0)]), np.concatenate([zero, (x * x).cumsum(0)])))
        which = torch.multinomial(self._weights, batch_size, replacement=True, generator=generator).numpy()
        u = torch.rand(batch_size, generator=generator, dtype=torch.float64).numpy()
        j = torch.randint(self.query, (batch_size,), generator=generator).numpy()
        xs, ys = np.empty((batch_size, self.series[0].x.shape[1])), np.empty(batch_size, dtype=np.int64)
        for a in np.unique(which):
            rows = np.flatnonzero(which == a)
            starts = self._starts[a]
            t = starts[np.minimum((u[rows] * len(starts)).astype(np.int64), len(starts) - 1)]
            s0, s1 = t - self.embargo - self.support, t - self.embargo
            cs, cs2 = self._stats[a]
            mean = (cs[s1] - cs[s0]) / self.support
            ms = (cs2[s1] - cs2[s0]) / self.support
            center = np.where(signed_mask(mean.shape[-1]), 0.0, mean)
            sd = np.sqrt(np.maximum(ms - 2 * center * mean + center**2, 0.0))
            sd = np.where(sd > 1e-8, sd, 1.0)
            day = t + j[rows]
            xs[rows] = np.clip((self.series[a].x[day] - center) / sd, -5.0, 5.0)
            ys[rows] = self.series[a].y[day]
        return torch.from_numpy(xs.astype(np.float32)), torch.from_numpy(ys)

    def all_tasks(self) -> list[Task]:
        """The walk-forward grid: every asset, consecutive query windows covering the period."""
        tasks = []
        for s, (lo, hi) in zip(self.series, self.ranges):
            hi_known = min(hi, len(s.dates) - 1)  # the last day has no outcome to score
            for t in walk_forward_starts(s, lo, hi_known, self.support, self.query, self.embargo):
                tasks.append(make_task(s, int(t), self.support, self.query, self.embargo, self.split))
        return tasks


class TradingDomain(Domain):
    """What the next days hold for an asset (its ``target``), adapted to the current regime from its recent past.

    Options
    -------
    source : str
        One of :data:`SOURCES` (default ``synthetic``).
    data_dir : str, optional
        CSV folder (``source="csv"``).
    tickers : str or list, optional
        Assets to use (default: all of the source; required for yfinance).
    start, end : str, optional
        Date range of the data used.
    train_end, val_end : str, optional
        Ends of the training and validation periods (default: 60% / 80% of the usable dates).
    test_start : str, optional
        Start of the test period when it should not follow ``val_end`` directly (evaluation on a chosen period).
    test_tickers : str or list, optional
        Assets held out of training / validation (the only test assets).
    target : str
        What a task predicts, one of :data:`~metasuite.domains.trading.targets.TARGETS`: ``direction`` (default:
        the next day's down / up), ``regime21`` (bear / bull over the next 21 days) or ``vol_tercile`` (the
        tercile of the next 21 days' volatility, cut-offs from the training period) or ``jump21`` (the
        statistical jump model's bear / bull regime of the next day as known 21 days later, the model fitted on
        the training period's closes of the training assets).
    jump_penalty : float
        ``jump21``: the jump model's cost of a regime switch (default 50, as the baseline's).
    bear_return, bear_drawdown : float
        ``regime21``: the next 21 days are bear when they return less than ``bear_return`` (default -0.02) or
        fall more than ``bear_drawdown`` (default 0.05) below their running peak.
    support_days, query_days, embargo : int
        Task shape (default 126 / 21 / the target's horizon: 1 for direction, 21 for the 21-day targets; a
        shorter embargo than the horizon is refused).
    n_assets, n_markets, n_days, test_days, market_seed : int
        The synthetic training assets (spread over ``n_markets`` independent markets, each with its own
        regime path; tickers ``SYN<market>-<asset>``), their length and seed, and the independent test
        market's length (it has ``n_assets`` assets ``TEST0``...).
    hidden : int
        Width of the MLP's two hidden layers.
    cache_dir : str, optional
        yfinance cache folder (default: ``yfinance`` in the per-user cache, :func:`.data.default_yfinance_cache`).
    missing : str
        ``"raise"`` (default) or ``"drop"``: what the CSV / yfinance loaders do with rows of NaN prices.
    """

    name = "trading"
    title = "Market-regime trading"
    description = (
        "Adapt a model of the next days (direction, 21-day regime or volatility tercile) to the current market "
        "regime from a short recent window; backtest it with costs against buy & hold, MA 50/200, 12-1 momentum, "
        "volatility targeting, a 2-state HMM, the statistical jump model and a static model."
    )
    kind = "classification"
    fixed_label_space = True
    shared_classes = True
    option_specs = (
        Option("source", str, "synthetic", "market data (csv needs --data-dir)", choices=SOURCES),
        Option("data_dir", Path, None, "folder of TICKER.csv files (source csv)"),
        Option("tickers", list, None, "assets, comma-separated, e.g. SPY,QQQ"),
        Option("start", str, None, "first date YYYY-MM-DD (eval: the first test day)"),
        Option("end", str, None, "last date YYYY-MM-DD"),
        Option("train_end", str, None, "last day of the training period", flag=False),
        Option("val_end", str, None, "last day of the validation period", flag=False),
        Option("test_start", str, None, "first day of the test period", flag=False),
        Option("test_tickers", list, None, "assets held out for testing (split by ticker too)", flag=False),
        Option(
            "target",
            str,
            "direction",
            "what a task predicts: direction (next day), regime21 (bear/bull over 21 days), vol_tercile or "
            "jump21 (the jump model's regime, fitted on the training period)",
            choices=TARGETS,
        ),
        Option("bear_return", float, -0.02, "regime21: bear when the next 21 days return less than this", flag=False),
        Option("bear_drawdown", float, 0.05, "regime21: ... or fall more than this below their peak", flag=False),
        Option("jump_penalty", float, JUMP_PENALTY, "jump21: the jump model's cost of a switch", flag=False),
        Option("jump_model", dict, None, "jump21: the fitted jump model (recorded by training)", flag=False),
        Option(
            "features",
            str,
            "base",
            "inputs: base (13 price features) or regime (those and the jump model's 9 EWM return / downside features)",
            choices=tuple(FEATURE_SETS),
        ),
        Option("support_days", int, 126, "days of realised outcomes a task adapts on"),
        Option("query_days", int, 21, "days a task predicts after its support"),
        Option(
            "embargo",
            int,
            None,
            "days between the support's last day and the first query day (default: the target's horizon, 1 or 21)",
            flag=False,
        ),
        Option("n_assets", int, SYNTH_ASSETS, "synthetic: assets", flag=False),
        Option("n_days", int, SYNTH_DAYS, "synthetic: training-market days", flag=False),
        Option("test_days", int, SYNTH_TEST_DAYS, "synthetic: test-market days", flag=False),
        Option("market_seed", int, 0, "synthetic: market seed", flag=False),
        Option("n_markets", int, SYNTH_MARKETS, "synthetic: independent training markets", flag=False),
        Option("hidden", int, 64, "MLP hidden units"),
        Option("cache_dir", Path, None, "yfinance price cache (default: the user cache)", flag=False),
        Option("missing", str, "raise", "rows with NaN prices: raise or drop", choices=("raise", "drop")),
        Option("allow_jumps", bool, False, "keep overnight moves beyond 35% as real (else refused)", flag=False),
        Option("max_gap_days", float, 30.0, "longest accepted gap between rows, in calendar days", flag=False),
        Option("column_map", dict, None, 'CSV column names, e.g. {"Adj Close": "close"}', flag=False),
        Option(
            "splits",
            str,
            "adjust",
            "unadjusted splits: adjust, refuse or ignore",
            flag=False,
            choices=("adjust", "refuse", "ignore"),
        ),
    )

    def __init__(
        self,
        source: str = "synthetic",
        data_dir: str | None = None,
        tickers: str | Sequence[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        train_end: str | None = None,
        val_end: str | None = None,
        test_start: str | None = None,
        test_tickers: str | Sequence[str] | None = None,
        support_days: int = 126,
        query_days: int = 21,
        embargo: int | None = None,
        n_assets: int = SYNTH_ASSETS,
        n_days: int = SYNTH_DAYS,
        test_days: int = SYNTH_TEST_DAYS,
        market_seed: int = 0,
        hidden: int = 64,
        cache_dir: str | None = None,
        missing: str = "raise",
        allow_jumps: bool = False,
        max_gap_days: float = 30,
        column_map: dict[str, str] | None = None,
        splits: str = "adjust",
        prices: dict[str, pd.DataFrame] | None = None,
        regimes: pd.Series | dict[str, pd.Series] | None = None,
        n_markets: int = SYNTH_MARKETS,
        target: str = "direction",
        bear_return: float = -0.02,
        bear_drawdown: float = 0.05,
        features: str = "base",
        jump_penalty: float = JUMP_PENALTY,
        jump_model: dict[str, Any] | None = None,
    ):
        if source not in SOURCES and prices is None:
            raise DataError(f"unknown market source {source!r}; choose one of {', '.join(SOURCES)}")
        self.target = make_target(
            target, bear_return=bear_return, bear_drawdown=bear_drawdown, jump_penalty=jump_penalty
        )
        if jump_model is not None and self.target.name == "jump21":
            self.target = self.target.with_jump_params(jump_model)
        embargo = self.target.horizon if embargo is None else embargo
        opts = dict(
            source=source,
            data_dir=data_dir,
            tickers=parse_tickers(tickers),
            start=start,
            end=end,
            train_end=train_end,
            val_end=val_end,
            test_start=test_start,
            test_tickers=parse_tickers(test_tickers),
            missing=None if missing == "raise" else missing,
            # recorded only when they differ from the defaults (older checkpoints' options stay comparable)
            allow_jumps=allow_jumps or None,
            max_gap_days=None if max_gap_days == 30 else max_gap_days,
            column_map=column_map or None,
            splits=None if splits == "adjust" else splits,
            support_days=support_days,
            query_days=query_days,
            embargo=embargo,
            hidden=hidden,
            # a checkpoint without a target predicts the direction: the option is recorded only for the others
            target=None if self.target.name == "direction" else self.target.name,
            **self.target.options(),
            features=None if features == "base" else features,
            jump_model=jump_model if self.target.name == "jump21" else None,
        )
        if source == "synthetic":
            opts.update(
                n_assets=n_assets, n_days=n_days, test_days=test_days, market_seed=market_seed, n_markets=n_markets
            )
        super().__init__(**{k: v for k, v in opts.items() if v is not None})
        for key, value, low in (
            ("support_days", support_days, 10),
            ("query_days", query_days, 1),
            ("embargo", embargo, 1),
        ):
            if int(value) < low:
                raise DataError(f"{key} must be >= {low}, got {value}")
        try:
            check_embargo(int(embargo), self.target)
        except TaskError as exc:
            raise DataError(str(exc)) from exc
        if features not in FEATURE_SETS:
            raise DataError(f"unknown feature set {features!r}; choose one of {', '.join(FEATURE_SETS)}")
        self.features = features
        self.source = source
        self.data_dir = data_dir
        self.tickers = parse_tickers(tickers)
        self.start, self.end = _date(start, "start"), _date(end, "end")
        self.train_end, self.val_end = _date(train_end, "train_end"), _date(val_end, "val_end")
        self.test_start = _date(test_start, "test_start")
        self.test_tickers = parse_tickers(test_tickers)
        self.support, self.query, self.embargo = int(support_days), int(query_days), int(embargo)
        self.n_assets, self.n_days, self.market_seed = int(n_assets), int(n_days), int(market_seed)
        self.test_days = int(test_days)
        self.n_markets = int(n_markets)
        if self.n_markets < 1 or self.n_assets < self.n_markets:
            raise DataError(f"need 1 <= n_markets <= n_assets, got n_markets={n_markets}, n_assets={n_assets}")
        self.hidden = int(hidden)
        self.cache_dir = cache_dir
        self.missing = missing
        self.loader_options = {
            "allow_jumps": bool(allow_jumps),
            "max_gap_days": float(max_gap_days),
            "column_map": column_map,
            "splits": splits,
        }
        self._prices = prices
        self._given = prices is not None  # data passed in (an upload) rather than loaded from the source
        self._regimes = regimes
        self._series: list[AssetSeries] | None = None
        self._targeted = False  # the series' target is fitted (vol_tercile: cut-offs from the training period)
        self._test_market: list[AssetSeries] | None = None
        self._pooled: dict[str, TradingSampler] = {}
        self.skipped: list[str] = []
        self._periods: dict[str, tuple[pd.Timestamp | None, pd.Timestamp | None]] | None = None

    # ------------------------------------------------------------------ data
    def load_prices(self) -> tuple[dict[str, pd.DataFrame], dict[str, pd.Series] | None]:
        """The OHLCV frames of the source (and each asset's ground-truth regimes for the synthetic market)."""
        if self._prices is not None:  # given, or loaded before
            regimes = self._regimes
            if isinstance(regimes, pd.Series):
                regimes = {t: regimes for t in self._prices}
            return self._prices, regimes
        if self.source == "synthetic":
            prices, regimes = self._simulate("SYN", self.n_days, "2000-01-03", "trading-market")
        else:
            kw: dict[str, Any] = {"data_dir": self.data_dir, "tickers": self.tickers, "missing": self.missing}
            kw.update(self.loader_options)
            if self.cache_dir is not None:
                kw["cache_dir"] = Path(self.cache_dir)
            prices, regimes = load_market(self.source, start=self.start, end=self.end, **kw), None
        if self.tickers is not None:
            missing = [t for t in self.tickers if t not in prices]
            if missing:
                raise DataError(f"tickers {missing} are not in the {self.source} data (it has {sorted(prices)[:20]})")
            prices = {t: prices[t] for t in self.tickers}
        if self.start is not None or self.end is not None:
            prices = {t: df.loc[self.start : self.end] for t, df in prices.items()}
        self._prices, self._regimes = prices, regimes
        return prices, regimes

    def series(self) -> list[AssetSeries]:
        """Every asset's features and labels of the target (computed once, then kept)."""
        series = self._raw_series()
        if not self._targeted:
            target = self.fitted_target()
            for s in series:
                s.target = target
            self._targeted = True
        return series

    def fitted_target(self) -> Target:
        """The target with everything it learns from the training period (``vol_tercile``: the tercile cut-offs
        of the training assets' forward volatility on the days whose 21 days end by the training period's end;
        ``jump21``: the jump model, fitted on the training assets' closes up to the training period's end)."""
        if self.target.fitted:
            return self.target
        if self.target.name == "jump21":
            series, ranges = self.split_series("train", targeted=False)
            closes = [s.prices["close"].iloc[:hi] for s, (_, hi) in zip(series, ranges) if hi > 0]
            self.target = self.target.with_jump_model(closes)
            self.options["jump_model"] = self.target.jump.params()  # recorded: evaluation labels with this model
            return self.target
        series, ranges = self.split_series("train", targeted=False)
        vols = []
        for s, (lo, hi) in zip(series, ranges):
            logc = np.log(s.prices["close"].to_numpy(np.float64))
            days = np.arange(max(lo, s.first_valid), max(hi - self.target.horizon, lo))
            vols.append(forward_vol(logc, self.target.horizon)[days])
        self.target = self.target.with_vol_terciles(np.concatenate(vols) if vols else np.array([]))
        return self.target

    def _raw_series(self) -> list[AssetSeries]:
        """Every asset's features (the labels' target not yet fitted)."""
        if self._series is None:
            prices, regimes = self.load_prices()
            if not prices:
                raise DataError(f"the {self.source} source gave no asset")
            series, skipped = [], []
            for t, df in prices.items():
                try:
                    series.append(AssetSeries.from_prices(t, df, (regimes or {}).get(t), self.target, self.features))
                except DataError as exc:
                    if self.tickers is not None:  # asked for by name: say why it cannot be used
                        raise
                    skipped.append(f"{t} ({exc})")
            if not series:
                raise DataError(f"no asset of the {self.source} data is usable: {'; '.join(skipped[:5])}")
            self.skipped = skipped
            self._series = series
        return self._series

    def data_notes(self) -> list[str]:
        """Each loaded asset's data notes (``attrs["notes"]`` of the loaders) and the assets left out."""
        notes = [f"{t}: {n}" for t, df in (self._prices or {}).items() for n in df.attrs.get("notes", [])]
        if self.skipped:
            notes.append(f"skipped {len(self.skipped)} asset(s) with too short a history: {self.skipped}")
        return notes

    @property
    def independent_test(self) -> bool:
        """True when the test split is a separately simulated market (synthetic source, no test period given)."""
        return self.source == "synthetic" and not self._given and self.test_start is None

    def test_market(self) -> list[AssetSeries]:
        """The independent synthetic test markets (own seeds and regime paths; ``TEST<market>-<asset>`` assets)."""
        if self._test_market is None:
            prices, regimes = self._simulate("TEST", self.test_days, "2030-01-01", "trading-test-market")
            target = self.fitted_target()
            self._test_market = [
                AssetSeries.from_prices(t, df, regimes[t], target, self.features) for t, df in prices.items()
            ]
        return self._test_market

    def _simulate(
        self, prefix: str, n_days: int, start: str, salt: str
    ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.Series]]:
        """``n_assets`` synthetic assets spread over ``n_markets`` independent markets (own regime paths)."""
        prices, regimes = {}, {}
        sizes = [len(a) for a in np.array_split(np.arange(self.n_assets), self.n_markets)]
        for k, size in enumerate(sizes):
            # the first training market keeps the plain seed (``simulate_market(n_days, size, market_seed)``)
            seed = self.market_seed if (k == 0 and prefix == "SYN") else derive_seed(salt, self.market_seed, k) % 2**31
            market = simulate_market(n_days, size, seed=seed, start=start)
            for t, df in market.prices.items():
                i = t.removeprefix("SYN")
                name = f"{prefix}{i}" if self.n_markets == 1 else f"{prefix}{k}-{i}"
                prices[name], regimes[name] = df, market.regimes
        return prices, regimes

    def periods(self) -> dict[str, tuple[pd.Timestamp | None, pd.Timestamp | None]]:
        """``split -> (first, last)`` dates of the train / val / test periods (inclusive)."""
        if self._periods is None:
            series = self._raw_series()
            usable = sorted({d for s in series for d in s.dates[s.first_valid + self.embargo + self.support :]})
            if len(usable) < 30:
                raise DataError(
                    f"only {len(usable)} days have a full history (252-day warm-up + {self.support} support days); "
                    "load a longer period"
                )
            cut = (0.75, 1.0) if self.independent_test else (0.6, 0.8)
            train_end = self.train_end or usable[int(cut[0] * (len(usable) - 1))]
            val_end = self.val_end or usable[int(cut[1] * (len(usable) - 1))]
            if self.test_start is not None and self.train_end is None and self.val_end is None:
                # an evaluation period chosen by date: everything before it trains / validates
                before = [d for d in usable if d < self.test_start]
                if len(before) < 30:
                    raise DataError(
                        f"test_start {self.test_start.date()} leaves {len(before)} usable days before it; "
                        "load more history before the test period"
                    )
                train_end = before[int(0.75 * (len(before) - 1))]
                val_end = before[-1]
            if not train_end < val_end:
                raise DataError(f"train_end {train_end.date()} must come before val_end {val_end.date()}")
            test_start = self.test_start or val_end + pd.Timedelta(days=1)
            if test_start <= val_end:
                raise DataError(f"test_start {test_start.date()} must come after val_end {val_end.date()}")
            self._periods = {
                "train": (None, pd.Timestamp(train_end)),
                "val": (pd.Timestamp(train_end) + pd.Timedelta(days=1), pd.Timestamp(val_end)),
                "test": (pd.Timestamp(test_start), None),
            }
        return self._periods

    def split_series(self, split: str, *, targeted: bool = True) -> tuple[list[AssetSeries], list[tuple[int, int]]]:
        """The assets of ``split`` and the day-index range ``[lo, hi)`` of its period in each."""
        if split not in ("train", "val", "test"):
            raise DataError(f"unknown split {split!r}; choose train, val or test")
        if split == "test" and self.independent_test:
            market = self.test_market()
            return market, [(0, len(s.dates)) for s in market]
        series = self.series() if targeted else self._raw_series()
        held = set(self.test_tickers or [])
        unknown = held - {s.ticker for s in series}
        if unknown:
            raise DataError(f"test_tickers {sorted(unknown)} are not among the assets {[s.ticker for s in series]}")
        if held and len(held) == len(series):
            raise DataError("test_tickers hold out every asset; leave some for training")
        chosen = [s for s in series if (s.ticker in held) == (split == "test")] if held else series
        start, end = self.periods()[split]
        return chosen, [s.index_range(start, end) for s in chosen]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_series": None, "_targeted": False, "_test_market": None, "_pooled": {}}

    # ------------------------------------------------------------------ the test assets, one at a time
    @property
    def streams_test(self) -> bool:
        """True when the test assets are read one file at a time by whoever evaluates them (:meth:`test_jobs`):
        a CSV folder whose test period is a date (``test_start``) and whose every asset is a test asset, so that
        no asset's test days depend on the others'. Memory then does not grow with the number of tickers."""
        return (
            self.source == "csv"
            and not self._given
            and self._series is None
            and self.test_start is not None
            and self.train_end is None
            and self.val_end is None
            and not self.test_tickers
            and self.target.fitted  # nothing to learn from this data's training period first
            and self.data_dir is not None
            and Path(self.data_dir).is_dir()
        )

    def _csv_files(self) -> list[Path]:
        folder = Path(self.data_dir)
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith((".csv", ".csv.gz")))
        if not files:
            raise DataError(f"no CSV files in {folder}; expected one <TICKER>_data.csv or <TICKER>.csv per ticker")
        if self.tickers is not None:
            wanted = {t.upper() for t in self.tickers}
            named = [f for f in files if _ticker_from_filename(f).upper() in wanted]
            files = named if len(named) == len(wanted) else files  # tickers inside shared files: read them all
        return files

    def test_jobs(self, split: str = "test") -> list[AssetJob]:
        """The test split (or ``split``: ``val``, the validation period of the training assets) as units of work:
        one per CSV file when :attr:`streams_test` (test only), else one per asset."""
        if split == "test" and self.streams_test:
            return [AssetJob(_ticker_from_filename(f), path=f) for f in self._csv_files()]
        series, ranges = self.split_series(split)
        return [AssetJob(s.ticker, s, lo, hi) for s, (lo, hi) in zip(series, ranges)]

    def load_job(self, job: AssetJob) -> tuple[list[tuple[AssetSeries, int, int]], list[str], list[str]]:
        """``(assets with their test ranges, data notes, skipped assets)`` of a job (:meth:`test_jobs`)."""
        if job.path is None:
            return [(job.series, job.lo, job.hi)], [], []
        kw: dict[str, Any] = {"missing": self.missing, **self.loader_options}
        prices = load_market("csv", data_dir=job.path, start=self.start, end=self.end, **kw)
        assets, notes, skipped = [], [], []
        for t, df in prices.items():
            if self.tickers is not None and t not in self.tickers:
                continue
            notes += [f"{t}: {n}" for n in df.attrs.get("notes", [])]
            try:
                s = AssetSeries.from_prices(t, df, None, self.target, self.features)
            except DataError as exc:
                skipped.append(f"{t} ({exc})")
                continue
            assets.append((s, *s.index_range(self.test_start, None)))
        return assets, notes, skipped

    def test_names(self) -> list[str]:
        """The test assets' tickers (without loading them when :attr:`streams_test`)."""
        if self.streams_test:
            return [_ticker_from_filename(f) for f in self._csv_files()]
        return [s.ticker for s in self.split_series("test")[0]]

    @staticmethod
    def fingerprint_of(source: str, spans: dict[str, list[Any]], target: Target | None = None) -> str:
        """The data fingerprint of real data from each ticker's ``[first date, last date, rows]``."""
        key: dict[str, Any] = {"source": source, "data": spans}
        if target is not None and target.name != "direction":  # direction keeps its old fingerprints
            key["target"] = {"name": target.name, **target.options()}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ Domain interface
    def sampler(self, split: str, *, n_way: int | None = None, k_shot: int = 0, n_query: int = 0) -> TradingSampler:
        if n_way not in (None, self.target.n_classes):
            names = ", ".join(self.target.class_names)
            raise TaskError(
                f"the trading domain's {self.target.name} target has {self.target.n_classes} classes ({names}), "
                f"got n_way={n_way}"
            )
        series, ranges = self.split_series(split)
        return TradingSampler(series, ranges, self.support, self.query, self.embargo, split)

    def backbone_spec(self, algorithm: str, n_way: int | None) -> tuple[str, dict[str, Any]]:
        return "mlp", {
            "in_features": len(FEATURE_SETS[self.features]),
            "hidden": [self.hidden, self.hidden],
            "out_features": None if algorithm == "protonet" else self.target.n_classes,
        }

    def default_setting(self) -> dict[str, Any]:
        # the task shape is fixed by support_days / query_days / embargo (domain options)
        return {"n_way": self.target.n_classes, "k_shot": 0, "n_query": 0}

    def eval_plan(self, setting: dict[str, Any], split: str | None, explicit: bool) -> list[dict[str, Any]]:
        return [
            {
                **setting,
                "split": split or "test",
                "support_days": self.support,
                "query_days": self.query,
                "embargo": self.embargo,
            }
        ]

    def default_hparams(self, algorithm: str) -> dict[str, Any]:
        common = {"every_class_in_support": False}
        if algorithm in ("maml", "metasgd", "fomaml", "reptile"):
            return {**common, "inner_lr": 0.05, "inner_steps": 5, "test_inner_steps": 10}
        if algorithm == "anil":
            return {**common, "inner_lr": 0.1, "inner_steps": 10, "test_inner_steps": 20}
        return common

    def default_train_config(self, algorithm: str) -> dict[str, Any]:
        return {
            "steps": 2000,
            "meta_batch_size": 16,
            "outer_lr": 1e-3,
            "val_every": 200,
            "val_tasks": 200,
            "checkpoint_every": 100,
            "pad_tasks": True,
        }

    def default_baselines(self) -> dict[str, Any]:
        return {
            "scratch_steps": 100,
            "scratch_lr": 1e-2,
            "pretrain_steps": 2000,
            "pretrain_batch_size": 512,
            "pretrain_lr": 1e-3,
            "finetune_steps": 10,
            "finetune_lr": 1e-3,
        }

    def n_classes_total(self) -> int:
        return self.target.n_classes

    def pooled_batch(self, split: str, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Query days of random training tasks, standardised by their support as at test time (vectorised)."""
        if split not in self._pooled:
            self._pooled[split] = self.sampler(split)
        return self._pooled[split].pooled(batch_size, generator)

    def metrics(self, pred: Tensor, query_y: Tensor, query_mask: Tensor | None) -> dict[str, float]:
        """Direction accuracy and balanced accuracy of one task's query days."""
        from sklearn.metrics import balanced_accuracy_score

        y, p = query_y, pred.argmax(dim=-1)
        if query_mask is not None:
            y, p = y[query_mask], p[query_mask]
        if len(y) == 0:
            return {"accuracy": float("nan"), "balanced_accuracy": float("nan")}
        acc = float((y == p).double().mean())
        bal = float(balanced_accuracy_score(y.numpy(), p.numpy())) if len(np.unique(y.numpy())) > 1 else acc
        return {"accuracy": acc, "balanced_accuracy": bal}

    def split_ids(self) -> dict[str, Any]:
        """Training / validation assets and periods (so a checkpoint says what it has seen)."""
        periods = self.periods()
        out: dict[str, Any] = {}
        for split in ("train", "val"):
            series, _ = self.split_series(split)
            lo, hi = periods[split]
            out[split] = [s.ticker for s in series]
            out[f"{split}_period"] = [None if lo is None else str(lo.date()), str(hi.date())]
        return out

    def fingerprint(self) -> str:
        if self.source == "synthetic" and not self._given:
            blob: Any = {
                "synth": synth_fingerprint(),
                "n": [self.n_assets, self.n_days, self.test_days, self.market_seed],
            }
        else:
            prices, _ = self.load_prices()
            blob = {t: [str(df.index[0].date()), str(df.index[-1].date()), len(df)] for t, df in prices.items()}
        return self.fingerprint_of(self.source, blob, self.target)

    def validation_score(self, learner: Any, batch: Any) -> float | None:
        """The Sharpe ratio after costs of ``learner``'s walk-forward over the validation period: every
        validation asset's days covered by consecutive windows (all adapted in one batch), the probabilities
        turned into positions as the evaluation does by default, 10 bp per unit traded, equal weight
        (:func:`~metasuite.domains.trading.evaluation.validation_sharpe`). The trainer keeps the checkpoint with
        the best one; ``batch`` (random validation tasks) is not a backtest and is not used."""
        return validation_sharpe(self, MetaMethod(learner))

    @classmethod
    def evaluation(cls) -> WalkForwardEvaluation:
        """The walk-forward backtest after costs against the field's baselines (:mod:`.evaluation`)."""
        return WalkForwardEvaluation()
