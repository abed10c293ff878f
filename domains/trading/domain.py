"""The market-regime trading domain: adapt a next-day direction model to the current regime.

A task is (asset, date): the support is the recent past (``support_days`` days whose next-day outcomes
are realised before the first decision, an ``embargo`` apart), the query the next ``query_days`` days
(:mod:`metasuite.domains.trading.tasks`). Labels are the global classes down / up, so a meta-learner's adapted
probability of "up" becomes a position (:mod:`metasuite.domains.trading.evaluation`), executed with a one-day lag.

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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from metasuite.core.domain import Domain
from metasuite.core.errors import DataError, TaskError
from metasuite.core.options import Option
from metasuite.core.tasks import Task, derive_seed
from metasuite.domains.trading.data import load_market
from metasuite.domains.trading.evaluation import WalkForwardEvaluation
from metasuite.domains.trading.features import FEATURES, SIGNED
from metasuite.domains.trading.synth import simulate_market, synth_fingerprint
from metasuite.domains.trading.tasks import CLASS_NAMES, AssetSeries, make_task, valid_starts, walk_forward_starts

__all__ = ["SOURCES", "TradingDomain", "TradingSampler", "parse_tickers"]

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
            center = np.where(SIGNED, 0.0, mean)
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
    """Next-day direction of an asset, adapted to the current market regime from its recent past.

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
    support_days, query_days, embargo : int
        Task shape (default 126 / 21 / 1).
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
        "Adapt a next-day direction model to the current market regime from a short recent window; backtest "
        "it with costs against buy & hold, MA 50/200, 12-1 momentum, a 2-state HMM and a static model."
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
        Option("support_days", int, 126, "days of realised outcomes a task adapts on"),
        Option("query_days", int, 21, "days a task predicts after its support"),
        Option("embargo", int, 1, "days between the support's last outcome and the first query day", flag=False),
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
        embargo: int = 1,
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
    ):
        if source not in SOURCES and prices is None:
            raise DataError(f"unknown market source {source!r}; choose one of {', '.join(SOURCES)}")
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
        """Every asset's features and outcomes (computed once, then kept)."""
        if self._series is None:
            prices, regimes = self.load_prices()
            if not prices:
                raise DataError(f"the {self.source} source gave no asset")
            series, skipped = [], []
            for t, df in prices.items():
                try:
                    series.append(AssetSeries.from_prices(t, df, (regimes or {}).get(t)))
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
            self._test_market = [AssetSeries.from_prices(t, df, regimes[t]) for t, df in prices.items()]
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
            series = self.series()
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

    def split_series(self, split: str) -> tuple[list[AssetSeries], list[tuple[int, int]]]:
        """The assets of ``split`` and the day-index range ``[lo, hi)`` of its period in each."""
        if split not in ("train", "val", "test"):
            raise DataError(f"unknown split {split!r}; choose train, val or test")
        if split == "test" and self.independent_test:
            market = self.test_market()
            return market, [(0, len(s.dates)) for s in market]
        series = self.series()
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
        return {**self.__dict__, "_series": None, "_test_market": None, "_pooled": {}}

    # ------------------------------------------------------------------ Domain interface
    def sampler(self, split: str, *, n_way: int | None = 2, k_shot: int = 0, n_query: int = 0) -> TradingSampler:
        if n_way not in (None, len(CLASS_NAMES)):
            raise TaskError(f"the trading domain always has 2 classes (down, up), got n_way={n_way}")
        series, ranges = self.split_series(split)
        return TradingSampler(series, ranges, self.support, self.query, self.embargo, split)

    def backbone_spec(self, algorithm: str, n_way: int | None) -> tuple[str, dict[str, Any]]:
        return "mlp", {
            "in_features": len(FEATURES),
            "hidden": [self.hidden, self.hidden],
            "out_features": None if algorithm == "protonet" else len(CLASS_NAMES),
        }

    def default_setting(self) -> dict[str, Any]:
        # the task shape is fixed by support_days / query_days / embargo (domain options)
        return {"n_way": len(CLASS_NAMES), "k_shot": 0, "n_query": 0}

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
        return len(CLASS_NAMES)

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
        return hashlib.sha256(json.dumps({"source": self.source, "data": blob}, sort_keys=True).encode()).hexdigest()[
            :16
        ]

    @classmethod
    def evaluation(cls) -> WalkForwardEvaluation:
        """The walk-forward backtest after costs against the field's baselines (:mod:`.evaluation`)."""
        return WalkForwardEvaluation()
