"""Real market data for the trading domain: CSV folders, Yahoo Finance (cached) and the index histories
shipped with ``arch``, all returned in one format, :data:`Market`::

    market[ticker] -> pandas.DataFrame
        index:   DatetimeIndex named "date", tz-naive, ascending, unique (one row per trading day)
        columns: OHLCV_COLUMNS = ("open", "high", "low", "close", "volume"), all float64
                 prices in the quote currency, > 0, low <= min(open, close) <= max(open, close) <= high;
                 volume in shares (>= 0)

Every frame passes :func:`validate_ohlcv`. What validation changed or found (dates sorted, high/low
widened, a split adjusted, NaN volumes set to 0, a fallback to the cache) is listed, one sentence each,
in ``frame.attrs["notes"]``; ``frame.attrs["source"]`` says where the frame came from. pandas keeps
``attrs`` through slicing (``frame.loc[...]``) but drops them in some operations (e.g. ``concat`` of
frames with different ``attrs``): read them right after loading.

Sources:

* :func:`load_csv_folder` -- one CSV per ticker (``<TICKER>_data.csv`` with columns
  ``date,open,high,low,close,volume,Name`` as in ``../shared/data/market-sample``, or ``<TICKER>.csv``),
  or CSV files that hold several tickers told apart by a ``Name`` / ``Ticker`` / ``Symbol`` column.
  Prices may be unadjusted: stock splits are detected and adjusted (see :func:`validate_ohlcv`).
* :func:`load_yfinance` -- Yahoo Finance through ``yfinance`` (split- and dividend-adjusted), cached as one
  parquet file per ticker; only dates the cache lacks are downloaded.
* :func:`load_arch` -- the daily S&P 500 and NASDAQ Composite histories (1999-2018) that ship inside the
  ``arch`` package: offline, always available.
* :func:`load_market` -- one entry point over all of them, trimmed to ``[start, end]``.

The synthetic market with ground-truth regimes is :func:`metasuite.domains.trading.synth.simulate_market`.
``yfinance``, ``pyarrow`` and ``arch`` are imported lazily.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from metasuite.core import paths
from metasuite.core.errors import DataError

__all__ = [
    "ARCH_TICKERS",
    "MARKET_SOURCES",
    "OHLCV_COLUMNS",
    "SPLIT_FACTORS",
    "Market",
    "default_yfinance_cache",
    "load_arch",
    "load_csv_folder",
    "load_market",
    "load_yfinance",
    "validate_ohlcv",
]

Market: TypeAlias = dict[str, pd.DataFrame]
"""ticker -> daily OHLCV frame (see the module docstring for the exact contract)."""

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")
PRICE_COLUMNS = OHLCV_COLUMNS[:4]

SPLIT_FACTORS = (2.0, 3.0, 4.0, 5.0, 8.0, 10.0, 20.0, 1.5, 1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 8, 1 / 10, 1 / 20)
"""Share multipliers of common splits: 2.0 is a 2:1 split (the price halves), 1/10 a 1:10 reverse split."""
SPLIT_TOLERANCE = 0.03  # relative distance of a move from 1/factor that still counts as that split
SPLIT_MIN_MOVE = 1.4  # |close ratio| beyond which (either way) a day is a split candidate at all
HIGH_LOW_TOLERANCE = 1e-3  # relative: smaller high/low violations are rounding, fixed without a note
JUMP_LIMIT = 0.35  # overnight |open / previous close - 1| beyond which a move is refused unless allowed

SPLIT_MODES = ("adjust", "refuse", "ignore")
MISSING_MODES = ("raise", "drop")
MARKET_SOURCES = ("sp500", "nasdaq", "indices", "csv", "yfinance")
ARCH_TICKERS = {"sp500": "SP500", "nasdaq": "NASDAQ"}


def default_yfinance_cache() -> Path:
    """Where Yahoo Finance prices are cached by default: ``<user cache>/yfinance`` (``$METASUITE_CACHE`` honoured)."""
    return paths.cache_dir("yfinance")


UNSETTLED_DAYS = 2  # rows this many calendar days old or newer may be an unfinished session: never cached
_CACHE_META_KEY = b"metasuite"
_SHOW = 5  # dates named in a message before "and N more"

_TARGETS = ("date", *OHLCV_COLUMNS, "name")
_STANDARD_NAMES = {
    "date": "date",
    "datetime": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "name": "name",
    "ticker": "name",
    "symbol": "name",
}


# --------------------------------------------------------------------------------------------------
# validation


def _day(ts: pd.Timestamp) -> str:
    """``YYYY-MM-DD`` for a midnight timestamp, the full timestamp otherwise."""
    ts = pd.Timestamp(ts)
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else str(ts)


def _dates(index: Iterable[Any], n: int = _SHOW) -> str:
    """The first ``n`` dates of ``index``, then how many more there are."""
    days = [_day(d) for d in index]
    more = f" and {len(days) - n} more" if len(days) > n else ""
    return ", ".join(days[:n]) + more


def _split_label(factor: float) -> str:
    if factor == 1.5:
        return "3:2"
    return f"{factor:g}:1" if factor > 1 else f"1:{1 / factor:g} reverse"


def validate_ohlcv(
    df: pd.DataFrame,
    ticker: str,
    *,
    splits: str = "adjust",
    max_gap_days: float = 30,
    missing: str = "raise",
    allow_jumps: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """Check and clean one ticker's daily bars; returns ``(frame, notes)``.

    ``df`` holds the columns ``open, high, low, close, volume`` (other columns are dropped) and either a
    ``date`` column or a DatetimeIndex. The returned frame follows the :data:`Market` contract; ``notes``
    lists, in plain sentences, everything that was changed or looks suspicious. Raises
    :class:`~metasuite.core.errors.DataError` naming the ticker, the offending dates and what to do for:

    * missing columns, unparseable dates, non-numeric values;
    * duplicate dates (unsorted dates are sorted, with a note: nothing is lost);
    * missing (NaN) prices -- unless ``missing="drop"``, which drops those rows with a note. A NaN
      volume on a row whose prices are present is set to 0 with a note;
    * non-positive prices or negative volume;
    * a gap of more than ``max_gap_days`` calendar days between consecutive rows.

    Stock splits in unadjusted prices (``splits="adjust"``, the default): a day is a split of factor
    ``F`` (from :data:`SPLIT_FACTORS`) when its close-to-close ratio is within 3 % of ``1 / F``, the
    overnight gap (open / previous close) is too -- a split happens between two sessions -- and the move is
    large (beyond x1.4 either way). All earlier prices are then divided by ``F`` and earlier volumes
    multiplied by it, so the series is continuous. A fall by a half (2:1) or a third (3:2) with a matching
    gap is also what a crash can look like, so for those the day's volume must also rise by at least half
    the share multiplication (ratio > 1.5 for 2:1, > 1.25 for 3:2); otherwise the move is kept and noted as
    suspicious. Crashes that match no factor (-20 %, -45 %) are left alone. ``splits="refuse"`` raises on
    a detected split instead; ``splits="ignore"`` skips detection (for prices already adjusted).

    An overnight move of more than :data:`JUMP_LIMIT` (35 %; open against the previous close) that is not an
    adjusted split is an unadjusted split, a data error or a rare real event: refused unless
    ``allow_jumps=True``, which keeps it with a note.

    Finally ``high`` / ``low`` are widened where they do not contain ``open`` and ``close`` (noted when
    the violation exceeds rounding, 0.1 %).

    The hints in the errors name the command line's spelling (``--option missing=drop``); the keywords here
    and the domain's options have the same names (``missing="drop"``).
    """
    if splits not in SPLIT_MODES:
        raise DataError(f"splits={splits!r} is not one of {SPLIT_MODES}")
    if missing not in MISSING_MODES:
        raise DataError(f"missing={missing!r} is not one of {MISSING_MODES}")
    if not max_gap_days > 0:
        raise DataError(f"max_gap_days must be > 0, got {max_gap_days}")
    who = f"ticker {ticker!r}"
    notes: list[str] = []
    found = df.attrs.get("file_columns") or [str(c) for c in df.columns]  # as the file names them

    frame = _with_date_index(df, who, found)
    absent = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if absent:
        raise DataError(
            f"{who}: missing column(s) {absent}; the file has {len(found)} column(s) "
            f"{found}, expected date + {list(OHLCV_COLUMNS)} (matched case-insensitively). "
            """Name yours with --option column_map='{"Adj Close": "close", "Vol": "volume"}'"""
        )
    frame = frame.loc[:, list(OHLCV_COLUMNS)].copy()
    frame.columns.name = None
    if frame.empty:
        raise DataError(f"{who}: the file has a header ({len(df.columns)} columns) but no rows of prices")
    for col in OHLCV_COLUMNS:
        values = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        bad = ((values.isna() & frame[col].notna()) | np.isinf(values)).to_numpy()
        if bad.any():
            examples = [str(v) for v in frame.loc[bad, col].iloc[:3]]
            raise DataError(
                f"{who}: column {col!r} has non-numeric or infinite values {examples} on "
                f"{_dates(frame.index[bad])}; fix or remove these rows in the source"
            )
        frame[col] = values

    repeated = frame.index[frame.index.duplicated(keep=False)].unique()
    if len(repeated):
        raise DataError(
            f"{who}: {len(repeated)} date(s) appear more than once: {_dates(repeated)}; keep one row per date "
            "(e.g. df[~df.index.duplicated(keep='last')]), or if the file holds several tickers, map its "
            "ticker column to 'name' with column_map"
        )
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
        notes.append(f"dates were not in ascending order: sorted them ({len(frame)} rows, none dropped)")

    no_price = frame[list(PRICE_COLUMNS)].isna().any(axis=1).to_numpy()
    if no_price.any():
        where = frame.index[no_price]
        if missing == "raise":
            raise DataError(
                f"{who}: {len(where)} row(s) with missing (NaN) prices on {_dates(where)}; drop or fill them "
                "in the source, or drop these rows with --option missing=drop"
            )
        frame = frame.loc[~no_price]
        notes.append(f"dropped {len(where)} row(s) with missing prices: {_dates(where)}")
        if frame.empty:
            raise DataError(f"{who}: every row has a missing price; nothing is left")
    no_volume = frame["volume"].isna().to_numpy()
    if no_volume.any():
        frame.loc[no_volume, "volume"] = 0.0
        notes.append(f"missing volume set to 0 on {int(no_volume.sum())} row(s): {_dates(frame.index[no_volume])}")

    non_positive = (frame[list(PRICE_COLUMNS)] <= 0).any(axis=1).to_numpy()
    if non_positive.any():
        raise DataError(
            f"{who}: prices <= 0 on {_dates(frame.index[non_positive])}; prices must be > 0 (a 0 often "
            "stands for a missing value): fix or drop these rows in the source"
        )
    negative = (frame["volume"] < 0).to_numpy()
    if negative.any():
        raise DataError(f"{who}: negative volume on {_dates(frame.index[negative])}; fix the source")

    gaps = np.diff(frame.index.to_numpy()) / np.timedelta64(1, "D")
    long = np.flatnonzero(gaps > max_gap_days)
    if len(long):
        spans = ", ".join(f"{_day(frame.index[i])} -> {_day(frame.index[i + 1])} ({gaps[i]:g} days)" for i in long[:3])
        raise DataError(
            f"{who}: {len(long)} gap(s) longer than max_gap_days={max_gap_days:g} calendar days: {spans}; "
            f"accept them with --option max_gap_days={int(np.ceil(gaps[long].max()))}, or load a date range "
            "without them"
        )

    if splits != "ignore":
        frame = _handle_splits(frame, who, splits, notes)
    _check_jumps(frame, who, allow_jumps, notes)
    frame = _repair_high_low(frame, notes)
    return frame, notes


def _check_jumps(frame: pd.DataFrame, who: str, allow: bool, notes: list[str]) -> None:
    """Refuse (or note, when allowed) overnight moves beyond :data:`JUMP_LIMIT` left after split adjustment."""
    gap = frame["open"].to_numpy()[1:] / frame["close"].to_numpy()[:-1]
    where = np.flatnonzero(np.abs(gap - 1.0) > JUMP_LIMIT)
    if not len(where):
        return
    moves = ", ".join(f"{_day(frame.index[i + 1])} (open x{gap[i]:.3f} of the previous close)" for i in where[:3])
    more = f" and {len(where) - 3} more" if len(where) > 3 else ""
    if not allow:
        raise DataError(
            f"{who}: overnight move(s) beyond {JUMP_LIMIT:.0%} on {moves}{more}: an unadjusted split, a data error "
            "or a rare real event. Pass split-adjusted prices, or keep them as real moves with --option "
            "allow_jumps=true"
        )
    notes.append(f"kept {len(where)} overnight move(s) beyond {JUMP_LIMIT:.0%} as real (allow_jumps): {moves}{more}")


def _with_date_index(df: pd.DataFrame, who: str, found: list[str]) -> pd.DataFrame:
    """``df`` indexed by tz-naive dates taken from its ``date`` column or its index."""
    if "date" in df.columns:
        frame = df.set_index("date")
    elif isinstance(df.index, pd.DatetimeIndex) or pd.api.types.is_string_dtype(df.index.dtype):
        frame = df
    else:
        raise DataError(
            f"{who}: no 'date' column and the index is not dates (the file's columns: {found}); "
            """name the date column with --option column_map='{"Timestamp": "date"}'"""
        )
    try:
        index = pd.DatetimeIndex(pd.to_datetime(frame.index))
    except (ValueError, TypeError) as exc:
        parsed = pd.to_datetime(frame.index, errors="coerce", format="mixed")
        bad = [str(v) for v, p in zip(frame.index, parsed, strict=True) if pd.isna(p) and not pd.isna(v)]
        what = f"{bad[:3]}" if bad else f"({exc})"
        raise DataError(f"{who}: dates cannot be parsed: {what}; give them as YYYY-MM-DD") from exc
    if index.tz is not None:
        index = index.tz_localize(None)  # keep the exchange's local calendar day
    if index.hasnans:
        raise DataError(f"{who}: {int(index.isna().sum())} row(s) have no date; remove them from the source")
    frame = frame.set_axis(index.rename("date"), axis=0)
    return frame


def _handle_splits(frame: pd.DataFrame, who: str, mode: str, notes: list[str]) -> pd.DataFrame:
    """Detect splits (see :func:`validate_ohlcv`) and adjust, refuse or note them."""
    close, open_, volume = (frame[c].to_numpy() for c in ("close", "open", "volume"))
    ratio = close[1:] / close[:-1]
    gap = open_[1:] / close[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        volume_ratio = volume[1:] / volume[:-1]  # inf after a zero-volume day, nan for 0/0
    tol = np.log1p(SPLIT_TOLERANCE)
    found: list[tuple[int, float]] = []
    for i in np.flatnonzero(np.abs(np.log(ratio)) > np.log(SPLIT_MIN_MOVE)):
        day = _day(frame.index[i + 1])
        for factor in SPLIT_FACTORS:
            if abs(np.log(ratio[i] * factor)) > tol or abs(np.log(gap[i] * factor)) > tol:
                continue
            needed = 1 + (factor - 1) / 2
            if 1 < factor <= 2 and not volume_ratio[i] > needed:
                notes.append(
                    f"{day}: suspicious move (close x{ratio[i]:.3f}, open x{gap[i]:.3f} of the previous close) "
                    f"looks like a {_split_label(factor)} split but volume did not rise (x{volume_ratio[i]:.2f}, "
                    f"needs > {needed:g}): kept as a real price move"
                )
            else:
                found.append((i + 1, factor))
            break
    if not found:
        return frame
    if mode == "refuse":
        listed = ", ".join(f"{_day(frame.index[p])} ({_split_label(f)})" for p, f in found)
        raise DataError(
            f"{who}: prices look unadjusted for stock split(s) on {listed}; pass split-adjusted prices "
            "(e.g. yfinance auto_adjust=True) or adjust them here with --option splits=adjust"
        )
    factors = np.ones(len(frame))
    for pos, factor in found:
        factors[pos] = factor
    # each row is divided by the product of the factors of all later splits
    later = np.append(np.cumprod(factors[::-1])[::-1][1:], 1.0)
    frame = frame.copy()
    frame[list(PRICE_COLUMNS)] = frame[list(PRICE_COLUMNS)].div(later, axis=0)
    frame["volume"] = frame["volume"] * later
    for pos, factor in found:
        notes.append(
            f"{_day(frame.index[pos])}: {_split_label(factor)} split detected; earlier prices x{1 / factor:g}, "
            f"earlier volumes x{factor:g}"
        )
    return frame


def _repair_high_low(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    top = np.maximum(frame["open"], frame["close"])
    bottom = np.minimum(frame["open"], frame["close"])
    if not ((frame["high"] < top) | (frame["low"] > bottom)).any():
        return frame
    serious = (frame["high"] < top * (1 - HIGH_LOW_TOLERANCE)) | (frame["low"] > bottom * (1 + HIGH_LOW_TOLERANCE))
    frame = frame.copy()
    frame["high"] = np.maximum(frame["high"], top)
    frame["low"] = np.minimum(frame["low"], bottom)
    if serious.any():
        notes.append(
            f"high/low did not contain open and close on {int(serious.sum())} row(s) "
            f"({_dates(frame.index[serious])}): widened them"
        )
    return frame


# --------------------------------------------------------------------------------------------------
# column names


def _standardize_columns(raw: pd.DataFrame, column_map: Mapping[str, str] | None) -> tuple[pd.DataFrame, list[str]]:
    """Rename ``raw``'s columns to ``date, open, high, low, close, volume, name``; drop the others.

    ``column_map`` (source name -> one of those, case-insensitive on both sides) is applied first; the
    remaining columns are matched case-insensitively to the standard names (``Ticker`` / ``Symbol`` mean
    ``name``). When ``close`` comes from another column (e.g. ``Adj Close``) while the raw ``Close`` is also
    present, open/high/low are scaled by their ratio so that each bar stays consistent.
    """
    column_map = dict(column_map or {})
    bad = {k: v for k, v in column_map.items() if str(v).strip().lower() not in _TARGETS}
    if bad:
        raise DataError(f"column_map values must be among {list(_TARGETS)} (case-insensitive), got {bad}")
    targets = [str(v).strip().lower() for v in column_map.values()]
    if len(set(targets)) < len(targets):
        raise DataError(f"column_map sends two columns to the same name: {column_map}")
    by_lower: dict[str, Any] = {}
    for col in raw.columns:
        by_lower.setdefault(str(col).strip().lower(), col)
    rename: dict[Any, str] = {}
    for src, dst in column_map.items():
        col = src if src in raw.columns else by_lower.get(str(src).strip().lower())
        if col is not None:  # a map may name columns that only some files have
            rename[col] = str(dst).strip().lower()
    for col in raw.columns:
        std = _STANDARD_NAMES.get(str(col).strip().lower())
        if col not in rename and std is not None and std not in rename.values():
            rename[col] = std
    frame = raw.loc[:, list(rename)].rename(columns=rename)

    notes: list[str] = []
    close_src = next((c for c, d in rename.items() if d == "close"), None)
    raw_close = by_lower.get("close")
    if close_src is not None and raw_close is not None and raw_close != close_src:
        scale = pd.to_numeric(raw[close_src], errors="coerce") / pd.to_numeric(raw[raw_close], errors="coerce")
        for col in ("open", "high", "low"):
            if col in frame.columns:
                frame[col] = pd.to_numeric(frame[col], errors="coerce") * scale.to_numpy()
        if (np.abs(scale - 1) > 1e-12).any():
            notes.append(f"open/high/low scaled by {close_src} / {raw_close} to match the adjusted close")
    return frame, notes


# --------------------------------------------------------------------------------------------------
# CSV


def _ticker_from_filename(path: Path) -> str:
    """``ABBV_data.csv`` / ``ABBV.csv`` / ``ABBV.csv.gz`` -> ``ABBV``."""
    stem = re.sub(r"\.csv(\.gz)?$", "", path.name, flags=re.IGNORECASE)
    return re.sub(r"_data$", "", stem, flags=re.IGNORECASE)


def _read_csv_file(path: Path, column_map: Mapping[str, str] | None) -> dict[str, tuple[pd.DataFrame, list[str]]]:
    """ticker -> (frame with standard column names, notes) for every ticker in one CSV file."""
    try:
        raw = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path} as CSV: {exc}") from exc
    found = [str(c) for c in raw.columns]
    if raw.empty:
        raise DataError(f"{path}: the file has a header ({len(found)} columns: {found[:10]}) but no rows of prices")
    frame, notes = _standardize_columns(raw, column_map)
    frame.attrs["file_columns"] = found  # named in errors about missing columns
    if "name" not in frame.columns:
        return {_ticker_from_filename(path): (frame, notes)}
    names = frame["name"]
    if names.isna().any():
        rows = [int(i) + 2 for i in np.flatnonzero(names.isna().to_numpy())[:_SHOW]]  # +2: header, 1-based
        raise DataError(f"{path}: {int(names.isna().sum())} row(s) have no ticker name (lines {rows}); fill them")
    names = names.astype(str).str.strip()
    out = {}
    for t, g in frame.groupby(names, sort=False):
        g = g.drop(columns="name")
        g.attrs["file_columns"] = found
        out[str(t)] = (g, list(notes))
    return out


def _not_found(wanted: list[str], available: list[str], where: object) -> DataError:
    shown = ", ".join(available[:30]) + (f" and {len(available) - 30} more" if len(available) > 30 else "")
    upper = {a.upper(): a for a in available}
    hints = []
    for w in wanted:
        close = [upper[m] for m in difflib.get_close_matches(w.upper(), list(upper), n=3, cutoff=0.6)]
        if close:
            hints.append(f"{w!r}: did you mean {', '.join(close)}?")
    hint = (" " + " ".join(hints)) if hints else ""
    return DataError(f"ticker(s) {wanted} not found in {where}; available: {shown}.{hint}")


def load_csv_folder(
    path: str | Path,
    tickers: Iterable[str] | str | None = None,
    *,
    column_map: Mapping[str, str] | None = None,
    splits: str = "adjust",
    max_gap_days: float = 30,
    missing: str = "raise",
    allow_jumps: bool = False,
) -> Market:
    """Daily bars from CSV files: a folder of them or a single file.

    A folder holds one file per ticker (``<TICKER>_data.csv`` -- the ``market-sample`` layout -- or
    ``<TICKER>.csv``, optionally ``.gz``) and/or files with several tickers. A ``Name`` (or ``Ticker`` /
    ``Symbol``) column names each row's ticker; without one the ticker is the file name. Columns
    ``date, open, high, low, close, volume`` are matched case-insensitively; ``column_map`` names others,
    e.g. ``{"Date": "date", "Adj Close": "close", "Ticker": "Name"}`` (with ``Adj Close`` as close, the
    raw ``Close`` scales open/high/low to match).

    ``tickers`` selects (in that order; default: all, sorted); a ticker that is not there raises a
    :class:`~metasuite.core.errors.DataError` listing the available ones. ``splits``, ``max_gap_days``,
    ``missing`` and ``allow_jumps`` go to :func:`validate_ohlcv`, whose notes end up in ``frame.attrs["notes"]``
    (``frame.attrs["source"]`` is the file).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"market data path {path} does not exist; give a folder of <TICKER>_data.csv / <TICKER>.csv files "
            "or one CSV file"
        )
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith((".csv", ".csv.gz")))
        if not files:
            entries = sorted(p.name for p in path.iterdir())[:10]
            raise DataError(
                f"no CSV files in {path} (it holds {entries or 'nothing'}); expected one <TICKER>_data.csv or "
                "<TICKER>.csv per ticker, or CSV files with a Name column"
            )
    else:
        files = [path]
    wanted = None if tickers is None else [tickers] if isinstance(tickers, str) else list(tickers)
    if wanted is not None and not wanted:
        raise DataError("tickers is empty; pass None to load every ticker")

    tables: dict[str, tuple[pd.DataFrame, list[str], Path]] = {}

    def read(file: Path) -> None:
        for ticker, (frame, notes) in _read_csv_file(file, column_map).items():
            if ticker in tables:
                raise DataError(
                    f"ticker {ticker!r} is in both {tables[ticker][2]} and {file}; keep one of them, or load "
                    "them separately"
                )
            tables[ticker] = (frame, notes, file)

    if wanted is None:
        for file in files:
            read(file)
        names = sorted(tables)
    else:
        # files named after a wanted ticker first; the others only if a ticker is still missing
        by_name = {w.upper() for w in wanted}
        first = [f for f in files if _ticker_from_filename(f).upper() in by_name]
        for file in first:
            read(file)
        if any(w not in tables for w in wanted):
            for file in files:
                if file not in first:
                    read(file)
        absent = [w for w in wanted if w not in tables]
        if absent:
            raise _not_found(absent, sorted(tables), path)
        names = list(dict.fromkeys(wanted))

    market: Market = {}
    for ticker in names:
        raw, notes, file = tables[ticker]
        try:
            frame, checks = validate_ohlcv(
                raw, ticker, splits=splits, max_gap_days=max_gap_days, missing=missing, allow_jumps=allow_jumps
            )
        except DataError as exc:
            raise DataError(f"{file}: {exc}") from exc
        frame.attrs = {"notes": notes + checks, "source": str(file)}
        market[ticker] = frame
    return market


# --------------------------------------------------------------------------------------------------
# Yahoo Finance


def _parse_day(value: object, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{what}={value!r} is not a date; give YYYY-MM-DD or a timestamp") from exc
    if ts is pd.NaT:
        raise DataError(f"{what}={value!r} is not a date; give YYYY-MM-DD or a timestamp")
    if ts.tz is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def _has_weekday(first: pd.Timestamp, last: pd.Timestamp) -> bool:
    return first <= last and len(pd.bdate_range(first, last)) > 0


def _from_yfinance(raw: pd.DataFrame | None, ticker: str) -> tuple[pd.DataFrame, list[str]]:
    """One ticker's frame from ``yfinance.download`` in the :data:`Market` layout (not yet validated).

    Accepts flat columns (``Open, High, ...``, older yfinance or ``multi_level_index=False``) and the
    ``(Price, Ticker)`` MultiIndex that yfinance >= 0.2.50 returns even for one ticker. Empty or all-NaN
    input gives an empty frame.
    """
    empty = pd.DataFrame(
        {c: pd.Series(dtype="float64") for c in OHLCV_COLUMNS}, index=pd.DatetimeIndex([], name="date")
    )
    if raw is None or len(raw) == 0:
        return empty, []
    frame = raw
    if isinstance(frame.columns, pd.MultiIndex):
        fields = {*OHLCV_COLUMNS, "adj close"}
        levels = range(frame.columns.nlevels)
        price_level = max(
            levels, key=lambda i: sum(str(v).strip().lower() in fields for v in frame.columns.unique(level=i))
        )
        for level in levels:
            if level == price_level:
                continue
            values = frame.columns.get_level_values(level)
            if values.nunique() > 1:
                matches = [v for v in values.unique() if str(v).upper() == ticker.upper()]
                if not matches:
                    raise DataError(f"yfinance returned columns for {list(values.unique())}, not for {ticker!r}")
                frame = frame.loc[:, values == matches[0]]
        frame = frame.set_axis(frame.columns.get_level_values(price_level), axis=1)
    adjusted = {c: "close" for c in frame.columns if str(c).strip().lower() == "adj close"}
    frame, notes = _standardize_columns(frame, adjusted)
    absent = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if absent:
        raise DataError(
            f"yfinance data for {ticker!r} lacks {absent} (columns: {[str(c) for c in raw.columns]}); "
            "has yfinance changed its output format?"
        )
    if "date" in frame.columns:
        frame = frame.set_index("date")
    frame = frame.loc[:, list(OHLCV_COLUMNS)].apply(pd.to_numeric, errors="coerce").astype("float64")
    index = pd.DatetimeIndex(pd.to_datetime(frame.index))
    if index.tz is not None:
        index = index.tz_localize(None)
    frame = frame.set_axis(index.rename("date"), axis=0).dropna(how="all")
    frame.columns.name = None
    return (frame.sort_index(), notes) if len(frame) else (empty, [])


def _cache_path(cache_dir: Path, ticker: str) -> Path:
    return cache_dir / f"{re.sub(r'[^A-Za-z0-9._^=-]', '_', ticker.upper())}.parquet"


def _read_cache(path: Path) -> tuple[pd.DataFrame | None, tuple[pd.Timestamp, pd.Timestamp] | None]:
    """The cached frame and the date range it covers (requested and downloaded), or ``(None, None)``."""
    if not path.is_file():
        return None, None
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        frame = table.to_pandas()
        meta = json.loads((table.schema.metadata or {}).get(_CACHE_META_KEY, b"{}"))
        frame = frame.loc[:, list(OHLCV_COLUMNS)].astype("float64")
        frame.index = pd.DatetimeIndex(frame.index, name="date")
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        warnings.warn(f"yfinance cache {path} is unreadable ({exc}); downloading again and replacing it", stacklevel=4)
        return None, None
    frame.attrs = {}
    if frame.empty:
        return None, None
    if "start" in meta and "end" in meta:
        covered = (pd.Timestamp(meta["start"]), pd.Timestamp(meta["end"]))
    else:  # written by something else: trust the rows
        covered = (frame.index[0].normalize(), frame.index[-1].normalize())
    return frame, covered


def _write_cache(path: Path, frame: pd.DataFrame, covered: tuple[pd.Timestamp, pd.Timestamp]) -> None:
    """Write ``frame`` and its covered range atomically (temporary file + ``os.replace``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = frame.copy()
    frame.attrs = {}
    table = pa.Table.from_pandas(frame, preserve_index=True)
    meta = {"start": _day(covered[0]), "end": _day(covered[1]), "source": "yfinance.download(auto_adjust=True)"}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _CACHE_META_KEY: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _merge(older: pd.DataFrame | None, newer: pd.DataFrame) -> pd.DataFrame:
    """Rows of both; where a date is in both, ``newer`` wins."""
    if older is None or older.empty:
        return newer.sort_index()
    both = pd.concat([older, newer])
    return both[~both.index.duplicated(keep="last")].sort_index()


def _readjust(cached: pd.DataFrame, fresh: pd.DataFrame, day: pd.Timestamp, notes: list[str]) -> pd.DataFrame:
    """Bring ``cached`` to the adjustment basis of ``fresh`` using a day present in both.

    Yahoo's adjusted prices are rescaled by every later dividend and split; all earlier prices by one
    constant, so the ratio on one common day rescales the whole cache exactly. Volumes change only for
    splits (a ratio beyond x1.25; smaller differences are revisions of that day's volume).
    """
    price = fresh.at[day, "close"] / cached.at[day, "close"]
    if not np.isfinite(price) or price <= 0 or abs(np.log(price)) < 1e-6:
        return cached
    cached = cached.copy()
    cached[list(PRICE_COLUMNS)] = cached[list(PRICE_COLUMNS)] * price
    note = f"cached prices rescaled by {price:.6g} to Yahoo's current adjustment (a dividend or split since caching)"
    old_volume, new_volume = cached.at[day, "volume"], fresh.at[day, "volume"]
    if old_volume > 0 and new_volume > 0 and abs(np.log(new_volume / old_volume)) > np.log(1.25):
        cached["volume"] = cached["volume"] * (new_volume / old_volume)
        note += f"; volumes by {new_volume / old_volume:.6g}"
    notes.append(note)
    return cached


def _yfinance_download() -> Callable[..., pd.DataFrame]:
    try:
        import yfinance
    except ImportError as exc:
        raise DataError("yfinance is not installed: pip install 'yfinance>=0.2.40' (or use offline=True)") from exc
    return yfinance.download


def load_yfinance(
    tickers: Iterable[str] | str,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp | None = None,
    *,
    cache_dir: str | Path | None = None,
    download: Callable[..., pd.DataFrame] | None = None,
    offline: bool = False,
    max_gap_days: float = 30,
    missing: str = "raise",
    allow_jumps: bool = False,
) -> Market:
    """Daily bars from Yahoo Finance for ``[start, end]`` (both inclusive; ``end=None``: up to today).

    Prices are split- and dividend-adjusted (``yfinance.download(..., auto_adjust=True)``), so split
    detection is off. ``download`` defaults to ``yfinance.download`` (tests inject a fake); it is called
    as ``download(ticker, start="YYYY-MM-DD", end="YYYY-MM-DD", auto_adjust=True, progress=False)`` with
    yfinance's exclusive ``end``, and may return flat or ``(Price, Ticker)`` MultiIndex columns.

    Cache: ``cache_dir/<TICKER>.parquet`` (default :func:`default_yfinance_cache`) holds every
    row downloaded and the date range already asked for. Only dates outside that range are downloaded:
    before its start and after its end, each request starting / ending on the nearest cached row, whose
    close rescales the cache to Yahoo's current adjustment (later dividends and splits change every
    earlier adjusted price). Rows of the last :data:`UNSETTLED_DAYS` days may be an unfinished session:
    they are returned but not cached. Files are written atomically.

    When a download fails (an exception, or no rows: unknown ticker or no network) the cached part of the
    range is returned with a warning and a note in ``attrs["notes"]``; with nothing cached in the range a
    :class:`~metasuite.core.errors.DataError` names the ticker, the cache file and the cause. ``offline=True`` never
    downloads. ``max_gap_days``, ``missing`` and ``allow_jumps`` go to :func:`validate_ohlcv`.
    """
    names = [tickers] if isinstance(tickers, str) else list(tickers)
    if not names:
        raise DataError("no tickers given to load_yfinance")
    first = _parse_day(start, "start")
    today = pd.Timestamp.today().normalize()
    last = today if end is None else _parse_day(end, "end")
    if first > last:
        raise DataError(f"start {_day(first)} is after end {_day(last)}")
    if download is None and not offline:
        download = _yfinance_download()
    cache_dir = default_yfinance_cache() if cache_dir is None else Path(cache_dir)
    market: Market = {}
    for ticker in names:
        frame, notes = _load_one_yfinance(ticker, first, last, today, cache_dir, download, offline)
        frame, checks = validate_ohlcv(
            frame, ticker, splits="ignore", max_gap_days=max_gap_days, missing=missing, allow_jumps=allow_jumps
        )
        frame.attrs = {
            "notes": notes + checks,
            "source": f"yfinance (adjusted), cached in {_cache_path(cache_dir, ticker)}",
        }
        market[ticker] = frame
    return market


def _load_one_yfinance(
    ticker: str,
    first: pd.Timestamp,
    last: pd.Timestamp,
    today: pd.Timestamp,
    cache_dir: Path,
    download: Callable[..., pd.DataFrame] | None,
    offline: bool,
) -> tuple[pd.DataFrame, list[str]]:
    """Cached + newly downloaded rows of one ticker in ``[first, last]`` (unvalidated), and notes."""
    path = _cache_path(cache_dir, ticker)
    cached, covered = _read_cache(path)
    settled = today - pd.Timedelta(days=UNSETTLED_DAYS)
    last_wanted = min(last, today)
    notes: list[str] = []

    # (download from, download to, the day it shares with the cache, which side of the cache it extends)
    requests: list[tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp | None, str]] = []
    if cached is None or covered is None:
        requests.append((first, last_wanted, None, "all"))
    else:
        if first < covered[0] and _has_weekday(first, covered[0] - pd.Timedelta(days=1)):
            overlap = cached.index[0].normalize()
            requests.append((first, overlap, overlap, "before"))
        if last_wanted > covered[1] and _has_weekday(covered[1] + pd.Timedelta(days=1), last_wanted):
            overlap = cached.index[-1].normalize()
            requests.append((overlap, last_wanted, overlap, "after"))

    failures: list[str] = []
    fetched: list[tuple[pd.DataFrame, pd.Timestamp | None, str]] = []
    if not offline and download is not None:
        for lo, hi, overlap, part in requests:
            span = f"{_day(lo)} to {_day(hi)}"
            try:
                raw = download(
                    ticker, start=_day(lo), end=_day(hi + pd.Timedelta(days=1)), auto_adjust=True, progress=False
                )
            except Exception as exc:  # any failure of the download falls back to the cache, with a warning
                failures.append(f"{span}: {type(exc).__name__}: {exc}")
                continue
            got, got_notes = _from_yfinance(raw, ticker)
            if got.empty:
                failures.append(f"{span}: yfinance returned no rows")
                continue
            notes.extend(got_notes)
            fetched.append((got, overlap, part))

    combined, new_covered = cached, covered
    if fetched:
        if cached is not None:
            for got, overlap, _ in sorted(fetched, key=lambda f: f[2] != "after"):  # the newest overlap first
                if overlap is not None and overlap in got.index and overlap in cached.index:
                    cached = combined = _readjust(cached, got, overlap, notes)
                    break
        for got, _, part in fetched:
            combined = _merge(combined, got)
            if new_covered is None or part == "all":
                new_covered = (first, max(last_wanted, first))
            elif part == "before":
                new_covered = (first, new_covered[1])
            else:
                new_covered = (new_covered[0], max(new_covered[1], last_wanted))
        stored = combined[combined.index.normalize() <= settled]
        stored_covered = (new_covered[0], min(new_covered[1], settled))
        if len(stored) and stored_covered[0] <= stored_covered[1]:
            _write_cache(path, stored, stored_covered)

    days = None if combined is None else combined.index.normalize()
    result = None if combined is None else combined[(days >= first) & (days <= last)]
    cache_state = "does not exist" if cached is None else f"covers {_day(covered[0])} to {_day(covered[1])}"
    if result is None or result.empty:
        if failures:
            why = f"download failed: {'; '.join(failures)}"
        else:
            why = "offline=True, nothing downloaded" if offline else "yfinance has no rows in that range"
        raise DataError(
            f"ticker {ticker!r}: no data for {_day(first)} to {_day(last)} ({why}) and the cache {path} "
            f"{cache_state}. No network? Unknown ticker (check it on finance.yahoo.com)? Run again online, or ask "
            "for dates the cache covers"
        )
    uncovered = offline and bool(requests)  # the cache lacks part of the range
    if failures or uncovered:
        got_span = f"{_day(result.index[0])} to {_day(result.index[-1])}"
        why = f"download failed ({'; '.join(failures)})" if failures else "offline=True"
        message = (
            f"ticker {ticker!r}: {why}; returning the cached {got_span} of the requested {_day(first)} to "
            f"{_day(last)} from {path}"
        )
        warnings.warn(message, stacklevel=3)
        notes.append(message)
    return result, notes


# --------------------------------------------------------------------------------------------------
# arch


def load_arch(name: str) -> Market:
    """The daily index history shipped inside ``arch``: ``"sp500"`` -> ``{"SP500": ...}``, ``"nasdaq"`` ->
    ``{"NASDAQ": ...}``.

    About 5030 trading days, 1999-01-04 to 2018-12-31, offline. ``close`` is arch's ``Adj Close`` and
    open/high/low are scaled by ``Adj Close / Close`` (for these indices the two are equal, ratio 1).
    Volume is the index's reported share volume (a few NASDAQ days report 0).
    """
    key = str(name).strip().lower()
    if key not in ARCH_TICKERS:
        raise DataError(f"unknown arch data set {name!r}; choose one of {list(ARCH_TICKERS)}")
    try:
        from arch.data import nasdaq, sp500
    except ImportError as exc:
        raise DataError("the arch package is not installed: pip install 'arch>=7'") from exc
    raw = {"sp500": sp500, "nasdaq": nasdaq}[key].load()
    frame, notes = _standardize_columns(raw, {"Adj Close": "close"})
    ticker = ARCH_TICKERS[key]
    frame, checks = validate_ohlcv(frame, ticker, splits="ignore")
    frame.attrs = {"notes": notes + checks, "source": f"arch.data.{key}"}
    return {ticker: frame}


# --------------------------------------------------------------------------------------------------
# one entry point


def _select(market: Market, tickers: Iterable[str] | str | None, where: str) -> Market:
    if tickers is None:
        return market
    wanted = [tickers] if isinstance(tickers, str) else list(tickers)
    absent = [t for t in wanted if t not in market]
    if absent:
        raise _not_found(absent, sorted(market), where)
    return {t: market[t] for t in dict.fromkeys(wanted)}


def _trim(market: Market, start: object, end: object) -> Market:
    if start is None and end is None:
        return market
    first = None if start is None else _parse_day(start, "start")
    last = None if end is None else _parse_day(end, "end")
    if first is not None and last is not None and first > last:
        raise DataError(f"start {_day(first)} is after end {_day(last)}")
    out: Market = {}
    for ticker, frame in market.items():
        days = frame.index.normalize()
        keep = np.ones(len(frame), dtype=bool)
        if first is not None:
            keep &= days >= first
        if last is not None:
            keep &= days <= last
        if not keep.any():
            raise DataError(
                f"ticker {ticker!r} has no rows between {start} and {end}; its data covers "
                f"{_day(frame.index[0])} to {_day(frame.index[-1])}"
            )
        out[ticker] = frame.loc[keep]
    return out


def load_market(
    source: str,
    *,
    data_dir: str | Path | None = None,
    tickers: Iterable[str] | str | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    cache_dir: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
    splits: str = "adjust",
    missing: str = "raise",
    max_gap_days: float = 30,
    allow_jumps: bool = False,
) -> Market:
    """Load real market data from ``source`` (one of :data:`MARKET_SOURCES`), trimmed to ``[start, end]``.

    * ``"sp500"`` / ``"nasdaq"`` / ``"indices"`` (both): :func:`load_arch`; ``tickers`` may select
      ``"SP500"`` / ``"NASDAQ"``.
    * ``"csv"``: :func:`load_csv_folder` of ``data_dir`` (a folder or one file) with ``tickers``,
      ``column_map``, ``splits``, ``missing``, ``max_gap_days``, ``allow_jumps``.
    * ``"yfinance"``: :func:`load_yfinance` of ``tickers`` (required) from ``start`` (required) to ``end``,
      cached in ``cache_dir``.

    ``start`` / ``end`` are inclusive dates (strings or timestamps). The synthetic market is
    :func:`metasuite.domains.trading.synth.simulate_market`, not a source here.
    """
    key = str(source).strip().lower()
    if key in ("synthetic", "synth"):
        raise DataError(
            "the synthetic market is not loaded here: use metasuite.domains.trading.synth.simulate_market(...), "
            "which also returns the ground-truth regimes"
        )
    if key not in MARKET_SOURCES:
        raise DataError(f"unknown market source {source!r}; choose one of {list(MARKET_SOURCES)}")
    if key in ARCH_TICKERS:
        market = _select(load_arch(key), tickers, f"source {key!r}")
    elif key == "indices":
        market = _select({**load_arch("sp500"), **load_arch("nasdaq")}, tickers, "source 'indices'")
    elif key == "csv":
        if data_dir is None:
            raise DataError(
                "source 'csv' needs data_dir (--data-dir on the command line): a folder of <TICKER>_data.csv files "
                "or one CSV file"
            )
        market = load_csv_folder(
            data_dir,
            tickers,
            column_map=column_map,
            splits=splits,
            max_gap_days=max_gap_days,
            missing=missing,
            allow_jumps=allow_jumps,
        )
    else:
        tickers = [tickers] if isinstance(tickers, str) else list(tickers or [])
        if not tickers:
            raise DataError("source 'yfinance' needs tickers, e.g. tickers=['SPY', 'QQQ']")
        if start is None:
            raise DataError("source 'yfinance' needs start (a date such as '2015-01-01')")
        market = load_yfinance(
            tickers,
            start,
            end,
            cache_dir=cache_dir,
            max_gap_days=max_gap_days,
            missing=missing,
            allow_jumps=allow_jumps,
        )
    return _trim(market, start, end)
