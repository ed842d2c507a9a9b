"""The log-linear histogram: every quantile within its stated bound of the samples' exact quantile,
buckets contiguous and ordered, merges that add counts."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from nanoservices.outputs import histogram as h

latencies = st.floats(0.0, 100.0, allow_nan=False)  # seconds
quantiles = st.floats(0.0, 1.0)


def exact_quantile(samples: list[float], q: float) -> float:
    """Nearest rank, computed here without the module's `rank`."""
    ordered = sorted(samples)
    index = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[min(index, len(ordered) - 1)]


@given(st.lists(latencies, min_size=1, max_size=300), quantiles)
def test_a_quantile_is_within_the_relative_bound_of_the_exact_one(samples: list[float], q: float) -> None:
    exact = exact_quantile(samples, q)
    estimate = h.quantile(h.of(samples), q)
    if exact >= h.UNIT:
        assert exact <= estimate <= exact * (1 + h.RELATIVE_ERROR)
    else:
        assert estimate == h.UNIT


@given(latencies)
def test_a_value_lies_in_its_bucket(seconds: float) -> None:
    bucket = h.bucket_of(seconds)
    assert h.lower_bound(bucket) <= seconds < h.upper_bound(bucket)


@given(st.integers(1, 2_000))
def test_buckets_are_contiguous_and_at_most_the_relative_error_wide(bucket: int) -> None:
    assert h.upper_bound(bucket - 1) == h.lower_bound(bucket)
    low, high = h.lower_bound(bucket), h.upper_bound(bucket)
    assert low < high <= low * (1 + h.RELATIVE_ERROR)
    assert h.bucket_of(low) == bucket


def test_each_power_of_two_of_the_unit_starts_an_octave() -> None:
    assert h.bucket_of(0.0) == 0
    assert h.bucket_of(0.9e-6) == 0
    assert [h.bucket_of(2**k * h.UNIT) for k in range(4)] == [1, 17, 33, 49]
    assert h.bucket_of(h.UNIT * 1.0625) == 2  # the second sub-bucket of the first octave
    assert h.upper_bound(0) == h.lower_bound(1) == 2**-20


@given(st.lists(latencies, max_size=50), st.lists(latencies, max_size=50))
def test_merging_two_histograms_is_the_histogram_of_all_samples(a: list[float], b: list[float]) -> None:
    assert h.merge(h.of(a), h.of(b)) == h.of(a + b)


def test_an_empty_histogram_has_no_quantile() -> None:
    assert h.quantile({}, 0.5) == 0.0


def test_text_keys_from_json_come_back_as_buckets() -> None:
    assert h.from_counts({"17": 2, "0": 1}) == {17: 2, 0: 1}
