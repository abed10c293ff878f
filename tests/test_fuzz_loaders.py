"""Fuzzing the loaders a user feeds files to: every outcome is a valid result or a MetasuiteError.

Hypothesis draws random bytes, random column orders and names, random NaN placement and random folder
trees; any other exception type (KeyError, IndexError, a pandas or PIL error leaking out) is a bug: the user
would see a traceback instead of a message that says what to fix.
"""

from __future__ import annotations

import io
import string
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metasuite.core.errors import MetasuiteError
from metasuite.domains.driving.data import load_image_folder
from metasuite.domains.trading.data import OHLCV_COLUMNS, load_csv_folder

pytestmark = [
    pytest.mark.filterwarnings("ignore:skipping unreadable image:UserWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning"),
]

FUZZ = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def _valid_market(market: dict[str, pd.DataFrame]) -> None:
    """The loader's contract: sorted unique dates, the five columns, finite positive prices, high/low bound."""
    assert market
    for frame in market.values():
        assert list(frame.columns) == list(OHLCV_COLUMNS)
        assert frame.index.is_monotonic_increasing and frame.index.is_unique and len(frame)
        prices = frame[["open", "high", "low", "close"]].to_numpy()
        assert np.isfinite(prices).all() and (prices > 0).all()
        assert (frame["high"] >= frame[["open", "close"]].max(axis=1) - 1e-9).all()
        assert (frame["low"] <= frame[["open", "close"]].min(axis=1) + 1e-9).all()


def _load_csv(files: dict[str, bytes], **kwargs) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        try:
            market = load_csv_folder(tmp, **kwargs)
        except MetasuiteError:
            return
        _valid_market(market)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_as_a_csv(data: bytes) -> None:
    _load_csv({"X.csv": data})


@FUZZ
@given(
    n=st.integers(1, 40),
    order=st.permutations(["date", "open", "high", "low", "close", "volume", "Name"]),
    case=st.sampled_from([str.lower, str.upper, str.title]),
    nan_cells=st.lists(st.tuples(st.integers(0, 39), st.sampled_from(["open", "high", "low", "close", "volume"]))),
    shuffle=st.booleans(),
    missing=st.sampled_from(["raise", "drop"]),
    seed=st.integers(0, 2**16),
)
def test_random_column_orders_names_and_nans(n, order, case, nan_cells, shuffle, missing, seed) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    frame = pd.DataFrame(
        {
            "date": pd.bdate_range("2020-01-01", periods=n).strftime("%Y-%m-%d"),
            "open": close * np.exp(rng.normal(0, 0.002, n)),
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": rng.integers(1, 10_000, n).astype(float),
            "Name": "ACME",
        }
    )
    for row, col in nan_cells:
        if row < n:
            frame.loc[row, col] = np.nan
    if shuffle:
        frame = frame.sample(frac=1.0, random_state=seed)
    frame = frame[list(order)].rename(columns=case)
    _load_csv({"ACME_data.csv": frame.to_csv(index=False).encode()}, missing=missing)


@FUZZ
@given(
    rows=st.lists(
        st.lists(st.one_of(st.text(alphabet=string.printable, max_size=8), st.floats(allow_nan=True)), max_size=8),
        max_size=12,
    ),
    header=st.lists(st.sampled_from(["date", "open", "high", "low", "close", "volume", "Name", "x", ""]), max_size=8),
)
def test_random_cells_under_plausible_headers(rows, header) -> None:  # type: ignore[no-untyped-def]
    text = io.StringIO()
    text.write(",".join(header) + "\n")
    for row in rows:
        text.write(",".join(str(c) for c in row) + "\n")
    _load_csv({"T.csv": text.getvalue().encode()})


def _png(width: int, height: int, colour: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (colour, 255 - colour, 7)).save(buf, format="PNG")
    return buf.getvalue()


@FUZZ
@given(
    tree=st.dictionaries(
        keys=st.tuples(
            st.sampled_from(["", "envA/", "envB/", ".hidden/"]),
            st.sampled_from(["day", "night", "x y", "..", "ünï"]),
            st.sampled_from(["a.png", "b.jpg", "c.PNG", "d.txt", ".e.png", "f"]),
        ),
        values=st.one_of(
            st.binary(max_size=200),
            st.builds(_png, st.integers(1, 40), st.integers(1, 40), st.integers(0, 255)),
        ),
        max_size=14,
    ),
    skip=st.booleans(),
)
def test_random_image_folder_trees(tree, skip) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        for (env, cls, name), data in tree.items():
            folder = (root / env / cls).resolve()
            if root.resolve() not in folder.parents and folder != root.resolve():
                continue  # ".." would leave the tree: not something a folder on disk can hold
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        try:
            pool = load_image_folder(root, size=8, skip_unreadable=skip)
        except MetasuiteError:
            return
        for by_class in pool.values():
            for images in by_class.values():
                assert images.dtype == np.uint8 and images.shape[1:] == (8, 8, 3)
