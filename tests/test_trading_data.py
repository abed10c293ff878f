"""Real market data loaders of the trading domain: validation, CSV folders, the yfinance cache, arch indices.

Frames are built in the tests; yfinance is always a fake (no network). One test reads real files from
``../shared/data/market-sample`` (skipped only when that folder is absent).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import metasuite.domains.trading.data as trading_data
from metasuite.core.errors import DataError
from metasuite.domains.trading.data import (
    OHLCV_COLUMNS,
    load_arch,
    load_csv_folder,
    load_market,
    load_yfinance,
    validate_ohlcv,
)
from metasuite.domains.trading.synth import simulate_market

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "market-sample"
PRICES = ["open", "high", "low", "close"]


def assert_contract(frame: pd.DataFrame) -> None:
    """The common format every loader returns."""
    assert list(frame.columns) == list(OHLCV_COLUMNS)
    assert (frame.dtypes == "float64").all()
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "date" and frame.index.tz is None
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert not frame.isna().any().any()
    assert (frame[PRICES] > 0).all().all() and (frame["volume"] >= 0).all()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()


def bars(n: int = 60, *, seed: int = 0, move: tuple[int, float, float] | None = None, volume_jump: float = 1.0):
    """``n`` business days of consistent bars with small moves (sd 0.5 %) and steady volume.

    ``move=(day, close_ratio, open_ratio)`` forces that day's close and open relative to the previous close;
    ``volume_jump`` multiplies the volume from that day on.
    """
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.005, n)
    gaps = rng.normal(0.0, 0.001, n)
    returns[0] = 0.0
    if move is not None:
        day, close_ratio, open_ratio = move
        returns[day], gaps[day] = np.log(close_ratio), np.log(open_ratio)
    close = 50.0 * np.exp(np.cumsum(returns))
    prev = np.concatenate([[close[0]], close[:-1]])
    open_ = prev * np.exp(gaps)
    volume = 1e6 * (1.0 + 0.05 * np.sin(np.arange(n)))
    if move is not None:
        volume[move[0] :] *= volume_jump
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.004,
            "low": np.minimum(open_, close) * 0.996,
            "close": close,
            "volume": volume,
        },
        index=pd.bdate_range("2021-01-04", periods=n, name="date"),
    )


def unadjust(frame: pd.DataFrame, day: int, factor: float) -> pd.DataFrame:
    """``frame`` as an unadjusted feed would show it with a split of ``factor`` (shares x factor) on ``day``."""
    raw = frame.copy()
    raw.iloc[:day, :4] *= factor
    raw.iloc[:day, 4] /= factor
    return raw


# --------------------------------------------------------------------------------------------------
# validate_ohlcv


def test_clean_bars_pass_unchanged() -> None:
    frame = bars()
    out, notes = validate_ohlcv(frame, "T")
    pd.testing.assert_frame_equal(out, frame, check_freq=False)
    assert notes == []
    assert_contract(out)


def test_missing_columns_are_named_with_the_fix() -> None:
    with pytest.raises(
        DataError, match=r"'T'.*missing column\(s\) \['volume'\]; the file has 4 column\(s\).*--option column_map="
    ):
        validate_ohlcv(bars().drop(columns="volume"), "T")


def test_non_positive_prices_are_refused_with_their_dates() -> None:
    frame = bars()
    frame.iloc[7, 2] = 0.0
    with pytest.raises(DataError, match=r"'T'.*2021-01-13.*> 0"):
        validate_ohlcv(frame, "T")


def test_missing_prices_raise_or_are_dropped_on_request() -> None:
    frame = bars()
    frame.iloc[[3, 9], 0] = np.nan
    with pytest.raises(DataError, match=r"'T'.*2 row\(s\).*2021-01-07, 2021-01-15.*--option missing=drop"):
        validate_ohlcv(frame, "T")
    out, notes = validate_ohlcv(frame, "T", missing="drop")
    assert len(out) == len(frame) - 2 and pd.Timestamp("2021-01-07") not in out.index
    assert any("dropped 2 row(s)" in n for n in notes)


def test_a_missing_volume_alone_becomes_zero_with_a_note() -> None:
    frame = bars()
    frame.iloc[5, 4] = np.nan
    out, notes = validate_ohlcv(frame, "T")
    assert out["volume"].iloc[5] == 0.0 and len(out) == len(frame)
    assert any("volume set to 0" in n and "2021-01-11" in n for n in notes)


def test_unparseable_dates_and_non_numeric_values_are_named() -> None:
    frame = bars(3).reset_index()
    frame["date"] = ["2021-01-04", "05/01/2021x", "2021-01-06"]
    with pytest.raises(DataError, match=r"'T'.*dates cannot be parsed: \['05/01/2021x'\]"):
        validate_ohlcv(frame, "T")
    frame = bars(3).astype({"close": object})
    frame.iloc[1, 3] = "1,234.5"
    with pytest.raises(DataError, match=r"'T'.*'close'.*\['1,234.5'\] on 2021-01-05"):
        validate_ohlcv(frame, "T")
    with pytest.raises(DataError, match="no 'date' column"):
        validate_ohlcv(bars(3).reset_index(drop=True), "T")


def test_duplicate_dates_are_refused() -> None:
    frame = bars()
    dup = pd.concat([frame, frame.iloc[[4]]])
    with pytest.raises(DataError, match=r"'T'.*more than once: 2021-01-08"):
        validate_ohlcv(dup, "T")


def test_unsorted_dates_are_sorted_with_a_note_and_nothing_lost() -> None:
    frame = bars()
    shuffled = frame.sample(frac=1.0, random_state=np.random.RandomState(3))
    out, notes = validate_ohlcv(shuffled, "T")
    pd.testing.assert_frame_equal(out, frame, check_freq=False)
    assert any("sorted" in n for n in notes)


def test_a_long_gap_is_refused_and_the_limit_can_be_raised() -> None:
    frame = bars()
    frame = frame[(frame.index < "2021-02-01") | (frame.index > "2021-03-10")]
    with pytest.raises(DataError, match=r"'T'.*2021-01-29 -> 2021-03-11 \(41 days\).*max_gap_days=41"):
        validate_ohlcv(frame, "T")
    out, _ = validate_ohlcv(frame, "T", max_gap_days=41)
    assert len(out) == len(frame)


def test_high_low_that_miss_open_or_close_are_widened_and_counted() -> None:
    frame = bars()
    frame.iloc[2, 1] = frame.iloc[2][["open", "close"]].max() * 0.95  # high below the body
    frame.iloc[6, 2] = frame.iloc[6][["open", "close"]].min() * 1.05  # low above the body
    out, notes = validate_ohlcv(frame, "T")
    assert_contract(out)
    assert any("2 row(s)" in n and "widened" in n for n in notes)
    pd.testing.assert_frame_equal(out.drop(out.index[[2, 6]]), frame.drop(frame.index[[2, 6]]), check_freq=False)


@pytest.mark.parametrize(("factor", "label"), [(2.0, "2:1"), (3.0, "3:1"), (0.1, "1:10 reverse")])
def test_a_split_is_adjusted_back_to_the_continuous_series(factor: float, label: str) -> None:
    true = bars(volume_jump=1.0)
    raw = unadjust(true, 30, factor)
    out, notes = validate_ohlcv(raw, "T")
    pd.testing.assert_frame_equal(out, true, check_freq=False, rtol=1e-12)
    assert notes == [f"2021-02-15: {label} split detected; earlier prices x{1 / factor:g}, earlier volumes x{factor:g}"]


def test_two_splits_are_both_adjusted() -> None:
    true = bars(80)
    raw = unadjust(unadjust(true, 60, 2.0), 20, 4.0)
    out, notes = validate_ohlcv(raw, "T")
    pd.testing.assert_frame_equal(out, true, check_freq=False, rtol=1e-12)
    assert len(notes) == 2


@pytest.mark.parametrize(
    ("close_ratio", "open_ratio"),
    [(0.80, 0.82), (0.55, 0.55), (0.50, 0.70)],  # -20 % crash; -45 % gap down; -50 % without the gap
    ids=["crash-20", "crash-45", "half-without-gap"],
)
def test_crashes_are_not_mistaken_for_splits(close_ratio: float, open_ratio: float) -> None:
    frame = bars(move=(30, close_ratio, open_ratio), volume_jump=4.0)
    out, notes = validate_ohlcv(frame, "T", allow_jumps=True)
    pd.testing.assert_frame_equal(out, frame, check_freq=False)
    assert not any("split" in n for n in notes)


def test_a_halving_with_a_matching_gap_is_a_split_only_if_volume_jumps() -> None:
    quiet = bars(move=(30, 0.5, 0.5), volume_jump=1.0)
    # not a split by the volume rule, and an overnight -50 %: refused unless the user keeps it
    with pytest.raises(
        DataError,
        match=r"'T': overnight move\(s\) beyond 35% on 2021-02-15 \(open x0\.500.*"
        r"--option allow_jumps=true",
    ):
        validate_ohlcv(quiet, "T")
    out, notes = validate_ohlcv(quiet, "T", allow_jumps=True)
    pd.testing.assert_frame_equal(out, quiet, check_freq=False)  # kept as a real move...
    assert len(notes) == 2 and "suspicious" in notes[0] and "2021-02-15" in notes[0]  # ...but flagged
    assert "kept 1 overnight move(s) beyond 35% as real" in notes[1]
    busy = bars(move=(30, 0.5, 0.5), volume_jump=2.0)
    out, notes = validate_ohlcv(busy, "T")
    assert out["close"].iloc[29] == pytest.approx(quiet["close"].iloc[29] / 2)
    assert "2:1 split" in notes[0]


def test_refuse_mode_raises_and_ignore_mode_keeps_raw_prices() -> None:
    raw = unadjust(bars(), 30, 2.0)
    with pytest.raises(DataError, match=r"'T'.*2021-02-15 \(2:1\).*adjusted prices.*--option splits=adjust"):
        validate_ohlcv(raw, "T", splits="refuse")
    with pytest.raises(DataError, match="overnight move"):  # ignored, the split is a -50 % jump
        validate_ohlcv(raw, "T", splits="ignore")
    out, notes = validate_ohlcv(raw, "T", splits="ignore", allow_jumps=True)
    pd.testing.assert_frame_equal(out, raw, check_freq=False)
    assert len(notes) == 1 and "kept 1 overnight move" in notes[0]


# --------------------------------------------------------------------------------------------------
# CSV


def _write_sample_layout(folder: Path, n_days: int = 40) -> dict[str, pd.DataFrame]:
    """``<TICKER>_data.csv`` files as in market-sample (``date,open,high,low,close,volume,Name``)."""
    folder.mkdir(parents=True, exist_ok=True)
    market = simulate_market(n_days, 3, seed=5).prices
    for ticker, frame in market.items():
        frame.reset_index().assign(Name=ticker).to_csv(folder / f"{ticker}_data.csv", index=False)
    return market


def test_csv_folder_in_the_market_sample_layout(tmp_path: Path) -> None:
    expected = _write_sample_layout(tmp_path)
    expected["PLAIN"] = expected["SYN0"] * 2.0
    expected["PLAIN"].reset_index().to_csv(tmp_path / "PLAIN.csv", index=False)  # <TICKER>.csv, no Name column
    (tmp_path / "README.txt").write_text("not data")
    market = load_csv_folder(tmp_path)
    assert list(market) == ["PLAIN", "SYN0", "SYN1", "SYN2"]
    for ticker, frame in market.items():
        assert_contract(frame)
        pd.testing.assert_frame_equal(frame, expected[ticker], check_freq=False, check_index_type=False)
        assert frame.attrs["notes"] == [] and frame.attrs["source"].endswith(".csv")
    picked = load_csv_folder(tmp_path, ["SYN2", "SYN0"])
    assert list(picked) == ["SYN2", "SYN0"]


def test_unknown_tickers_list_the_available_ones_and_suggest(tmp_path: Path) -> None:
    _write_sample_layout(tmp_path)
    with pytest.raises(
        DataError, match=r"\['SYN7', 'syn1'\] not found.*available: SYN0, SYN1, SYN2.*did you mean SYN1"
    ):
        load_csv_folder(tmp_path, ["SYN1", "SYN7", "syn1"])


def test_one_csv_with_several_tickers_in_shuffled_rows(tmp_path: Path) -> None:
    market = simulate_market(30, 2, seed=2).prices
    long = pd.concat(frame.reset_index().assign(Name=t) for t, frame in market.items())
    path = tmp_path / "all_stocks.csv"
    long.sample(frac=1.0, random_state=np.random.RandomState(0)).to_csv(path, index=False)
    loaded = load_csv_folder(path)
    assert list(loaded) == ["SYN0", "SYN1"]
    for ticker, frame in loaded.items():
        pd.testing.assert_frame_equal(frame, market[ticker], check_freq=False, check_index_type=False)
        assert any("sorted" in n for n in frame.attrs["notes"])


def test_column_map_with_adjusted_close_keeps_bars_consistent(tmp_path: Path) -> None:
    frame = bars(20)
    ratio = np.linspace(0.9, 1.0, 20)  # dividends: earlier adjusted prices lower
    table = pd.DataFrame(
        {
            "Day": frame.index.strftime("%Y-%m-%d"),
            "Open": frame["open"],
            "High": frame["high"],
            "Low": frame["low"],
            "Close": frame["close"],
            "Adj Close": frame["close"] * ratio,
            "Volume": frame["volume"],
            "Ticker": "ACME",
        }
    )
    table.to_csv(tmp_path / "quotes.csv", index=False)
    loaded = load_csv_folder(tmp_path, column_map={"Day": "date", "Adj Close": "close", "Ticker": "Name"})["ACME"]
    assert_contract(loaded)
    np.testing.assert_allclose(loaded["close"], frame["close"] * ratio)
    np.testing.assert_allclose(loaded[["open", "high", "low"]], frame[["open", "high", "low"]] * ratio[:, None])
    assert any("scaled" in n for n in loaded.attrs["notes"])


def test_standard_names_match_case_insensitively(tmp_path: Path) -> None:
    frame = bars(15)
    frame.reset_index().rename(columns=str.title).to_csv(tmp_path / "ABC.csv", index=False)
    loaded = load_csv_folder(tmp_path / "ABC.csv")
    pd.testing.assert_frame_equal(loaded["ABC"], frame, check_freq=False, check_index_type=False)


def test_csv_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_csv_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no CSV files in .*empty"):
        load_csv_folder(tmp_path / "empty")
    bars(10).drop(columns="volume").reset_index().to_csv(tmp_path / "NOVOL.csv", index=False)
    with pytest.raises(DataError, match=r"NOVOL\.csv: ticker 'NOVOL'.*\['volume'\].*column_map"):
        load_csv_folder(tmp_path / "NOVOL.csv")


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason=f"real market sample not found at {REAL_DATA}")
def test_real_market_sample() -> None:
    market = load_csv_folder(REAL_DATA, ["ABBV", "GE", "NFLX"])
    assert list(market) == ["ABBV", "GE", "NFLX"]
    for frame in market.values():
        assert_contract(frame)
        assert len(frame) > 1000 and frame.index[0] >= pd.Timestamp("2013-02-08")
        assert frame.index[-1] <= pd.Timestamp("2018-02-07")
    # DHR has two rows without an open price, and one bar whose low is above its open
    with pytest.raises(DataError, match=r"DHR_data\.csv.*2015-07-17, 2016-01-12.*--option missing=drop"):
        load_csv_folder(REAL_DATA, ["DHR"])
    dhr = load_csv_folder(REAL_DATA, ["DHR"], missing="drop")["DHR"]
    assert_contract(dhr)
    assert any("2014-11-06" in n for n in dhr.attrs["notes"])


# --------------------------------------------------------------------------------------------------
# yfinance (fake download: no network)


class FakeYahoo:
    """Stands in for ``yfinance.download``: deterministic daily bars on business days in ``[start, end)``.

    ``scale`` mimics Yahoo's adjustment basis (a later split halves every earlier adjusted price);
    ``multi_index`` returns the ``(Price, Ticker)`` columns of yfinance >= 0.2.50; ``fail`` raises
    ConnectionError; ``known`` limits the tickers that return rows (others give an empty frame).
    """

    def __init__(self, *, scale: float = 1.0, multi_index: bool = True, fail: bool = False, known=("SPY",)):
        self.scale, self.multi_index, self.fail, self.known = scale, multi_index, fail, set(known)
        self.calls: list[tuple[str, str, str]] = []

    @staticmethod
    def truth(start: str, end: str, scale: float = 1.0) -> pd.DataFrame:
        """The bars of ``[start, end]`` (inclusive) in the loader's format."""
        dates = pd.bdate_range(start, end, name="date")
        k = (dates - pd.Timestamp("2019-01-01")).days.to_numpy()
        close = scale * 100.0 * np.exp(0.001 * k + 0.02 * np.sin(k / 3.0))
        open_ = close * (1.0 + 0.003 * np.cos(k))
        return pd.DataFrame(
            {
                "open": open_,
                "high": np.maximum(open_, close) * 1.01,
                "low": np.minimum(open_, close) * 0.99,
                "close": close,
                "volume": (1e6 + k) / scale,
            },
            index=dates,
        )

    def __call__(self, ticker: str, start: str, end: str, auto_adjust: bool, progress: bool) -> pd.DataFrame:
        assert auto_adjust is True and progress is False
        self.calls.append((ticker, start, end))
        if self.fail:
            raise ConnectionError("simulated: no network")
        if ticker not in self.known:
            return pd.DataFrame()
        bars = self.truth(start, pd.Timestamp(end) - pd.Timedelta(days=1), self.scale)
        bars = bars.rename(columns=str.title).rename_axis("Date")
        if self.multi_index:
            bars.columns = pd.MultiIndex.from_product([bars.columns, [ticker]], names=["Price", "Ticker"])
        return bars


def test_first_call_downloads_and_writes_the_parquet_cache(tmp_path: Path) -> None:
    fake = FakeYahoo()
    frame = load_yfinance("SPY", "2020-01-01", "2020-03-31", cache_dir=tmp_path, download=fake)["SPY"]
    assert fake.calls == [("SPY", "2020-01-01", "2020-04-01")]  # yfinance's end is exclusive
    assert_contract(frame)
    pd.testing.assert_frame_equal(frame, FakeYahoo.truth("2020-01-01", "2020-03-31"), check_freq=False)
    cached = pq.read_table(tmp_path / "SPY.parquet").to_pandas()
    pd.testing.assert_frame_equal(cached, frame, check_freq=False, check_index_type=False)


def test_a_longer_range_downloads_only_the_missing_dates(tmp_path: Path) -> None:
    fake = FakeYahoo()
    load_yfinance("SPY", "2020-01-01", "2020-03-31", cache_dir=tmp_path, download=fake)
    fake.calls.clear()
    frame = load_yfinance("SPY", "2019-12-02", "2020-06-30", cache_dir=tmp_path, download=fake)["SPY"]
    # before and after the cache, each overlapping the nearest cached row (to check Yahoo's adjustment)
    assert fake.calls == [("SPY", "2019-12-02", "2020-01-02"), ("SPY", "2020-03-31", "2020-07-01")]
    pd.testing.assert_frame_equal(frame, FakeYahoo.truth("2019-12-02", "2020-06-30"), check_freq=False)
    fake.calls.clear()
    inside = load_yfinance("SPY", "2020-02-03", "2020-05-29", cache_dir=tmp_path, download=fake)["SPY"]
    assert fake.calls == []
    pd.testing.assert_frame_equal(inside, FakeYahoo.truth("2020-02-03", "2020-05-29"), check_freq=False)


def test_the_cache_follows_a_new_adjustment_basis(tmp_path: Path) -> None:
    load_yfinance("SPY", "2020-01-01", "2020-03-31", cache_dir=tmp_path, download=FakeYahoo())
    after_split = FakeYahoo(scale=0.5)  # a 2:1 split since: Yahoo now reports every earlier price halved
    frame = load_yfinance("SPY", "2020-01-01", "2020-06-30", cache_dir=tmp_path, download=after_split)["SPY"]
    pd.testing.assert_frame_equal(frame, FakeYahoo.truth("2020-01-01", "2020-06-30", 0.5), check_freq=False)
    assert any("rescaled by 0.5" in n for n in frame.attrs["notes"])


def test_flat_and_multiindex_columns_give_the_same_frame(tmp_path: Path) -> None:
    flat = load_yfinance(
        "SPY", "2020-01-01", "2020-01-31", cache_dir=tmp_path / "a", download=FakeYahoo(multi_index=False)
    )
    multi = load_yfinance("SPY", "2020-01-01", "2020-01-31", cache_dir=tmp_path / "b", download=FakeYahoo())
    pd.testing.assert_frame_equal(flat["SPY"], multi["SPY"])
    both = pd.concat({"QQQ": FakeYahoo.truth("2020-01-01", "2020-01-31") * 2, "SPY": flat["SPY"]}, axis=1)
    both.columns = both.columns.swaplevel().set_names(["Price", "Ticker"])  # yfinance's layout for two tickers
    picked = load_yfinance("SPY", "2020-01-01", "2020-01-31", cache_dir=tmp_path / "c", download=lambda *a, **k: both)
    pd.testing.assert_frame_equal(picked["SPY"], flat["SPY"])


def test_a_failed_download_falls_back_to_the_cache_with_a_warning(tmp_path: Path) -> None:
    load_yfinance("SPY", "2020-01-01", "2020-03-31", cache_dir=tmp_path, download=FakeYahoo())
    with pytest.warns(UserWarning, match=r"'SPY'.*ConnectionError.*2020-01-01 to 2020-03-31"):
        frame = load_yfinance("SPY", "2020-01-01", "2020-06-30", cache_dir=tmp_path, download=FakeYahoo(fail=True))[
            "SPY"
        ]
    pd.testing.assert_frame_equal(frame, FakeYahoo.truth("2020-01-01", "2020-03-31"), check_freq=False)
    assert any("download failed" in n for n in frame.attrs["notes"])


def test_a_failed_download_without_cache_names_ticker_cache_and_cause(tmp_path: Path) -> None:
    path = str(tmp_path / "XYZ.parquet")
    with pytest.raises(DataError, match=r"'XYZ'") as err:
        load_yfinance("XYZ", "2020-01-01", "2020-03-31", cache_dir=tmp_path, download=FakeYahoo(fail=True))
    assert path in str(err.value) and "ConnectionError" in str(err.value) and "No network?" in str(err.value)
    with pytest.raises(DataError, match=r"'NOPE'.*returned no rows.*does not exist.*Unknown ticker"):
        load_yfinance("NOPE", "2020-01-01", "2020-03-31", cache_dir=tmp_path, download=FakeYahoo())
    assert not (tmp_path / "NOPE.parquet").exists()


def test_offline_never_downloads(tmp_path: Path) -> None:
    fake = FakeYahoo()
    with pytest.raises(DataError, match=r"'SPY'.*offline=True.*does not exist"):
        load_yfinance("SPY", "2020-01-01", "2020-03-31", cache_dir=tmp_path, download=fake, offline=True)
    load_yfinance("SPY", "2020-01-01", "2020-03-31", cache_dir=tmp_path, download=fake)
    fake.calls.clear()
    with pytest.warns(UserWarning, match="offline"):
        frame = load_yfinance("SPY", "2019-06-03", "2020-03-31", cache_dir=tmp_path, download=fake, offline=True)
    assert fake.calls == [] and frame["SPY"].index[0] == pd.Timestamp("2020-01-01")


def test_the_last_days_are_returned_but_not_cached(tmp_path: Path) -> None:
    today = pd.Timestamp.today().normalize()
    start = today - pd.Timedelta(days=20)
    frame = load_yfinance("SPY", start, cache_dir=tmp_path, download=FakeYahoo())["SPY"]
    assert frame.index[-1] == pd.bdate_range(start, today)[-1]  # may be an unfinished session
    cached = pq.read_table(tmp_path / "SPY.parquet").to_pandas()
    assert cached.index[-1] <= today - pd.Timedelta(days=2)


# --------------------------------------------------------------------------------------------------
# arch and load_market


def test_arch_indices_are_sane() -> None:
    market = load_market("indices")
    assert list(market) == ["SP500", "NASDAQ"]
    for frame in market.values():
        assert_contract(frame)
        assert 4900 <= len(frame) <= 5100
        assert frame.index[0].year == 1999 and frame.index[-1].year == 2018
    assert 600 < market["SP500"]["close"].min() < market["SP500"]["close"].max() < 3000
    assert market["NASDAQ"]["close"].max() > 8000  # the 2018 NASDAQ Composite
    with pytest.raises(DataError, match="sp500"):
        load_arch("dax")


def test_load_market_trims_inclusively_and_explains_bad_requests(tmp_path: Path) -> None:
    sp = load_market("sp500", start="2008-09-15", end=pd.Timestamp("2008-09-19"))["SP500"]
    assert [d.day for d in sp.index] == [15, 16, 17, 18, 19]
    with pytest.raises(DataError, match=r"'stocks'.*'sp500'.*'yfinance'"):
        load_market("stocks")
    with pytest.raises(DataError, match="simulate_market"):
        load_market("synthetic")
    with pytest.raises(DataError, match="data_dir"):
        load_market("csv")
    with pytest.raises(DataError, match="tickers"):
        load_market("yfinance", start="2020-01-01")
    with pytest.raises(DataError, match="covers 1999-01-04 to 2018-12-31"):
        load_market("nasdaq", start="2020-01-01")


def test_load_market_yfinance_and_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeYahoo()
    monkeypatch.setattr(trading_data, "_yfinance_download", lambda: fake)
    market = load_market("yfinance", tickers=["SPY"], start="2020-01-01", end="2020-01-31", cache_dir=tmp_path)
    assert fake.calls == [("SPY", "2020-01-01", "2020-02-01")] and len(market["SPY"]) == 23
    _write_sample_layout(tmp_path / "csv")
    csv = load_market("csv", data_dir=tmp_path / "csv", tickers="SYN1", start="2000-01-10")
    assert list(csv) == ["SYN1"] and csv["SYN1"].index[0] == pd.Timestamp("2000-01-10")
