"""Codecs: every data type and word order round-trips; limits round down and stay in range."""

from __future__ import annotations

import math
import struct
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from loadbalancer.chargers.codec import (
    FLOAT_PLAUSIBLE_MAX,
    SENTINELS,
    Codec,
    DataType,
    WordOrder,
    encode_number,
    quantise_down,
    shortest_float32,
    words_of,
)
from loadbalancer.chargers.profile import Pause, Setpoint
from loadbalancer.errors import ChargerBadValue

INTEGER_RANGES = {
    "uint16": (0, 0xFFFF),
    "int16": (-0x8000, 0x7FFF),
    "uint32": (0, 0xFFFF_FFFF),
    "int32": (-0x8000_0000, 0x7FFF_FFFF),
}
word_orders = st.sampled_from(["big", "little"])
scales = st.sampled_from([1.0, 0.1, 0.01, 0.001, 10.0])


@st.composite
def integer_cases(draw: st.DrawFn) -> tuple[Codec, int]:
    data_type = draw(st.sampled_from(sorted(INTEGER_RANGES)))
    low, high = INTEGER_RANGES[data_type]
    codec = Codec(data_type, word_order=draw(word_orders), scale=draw(scales))  # type: ignore[arg-type]
    raw = draw(st.integers(low, high))
    assume(raw != SENTINELS[data_type])  # "not available" (test_sentinels_read_as_not_available)
    return codec, raw


@given(integer_cases())
def test_integers_round_trip_through_their_raw_value(case: tuple[Codec, int]) -> None:
    codec, raw = case
    value = float(Decimal(raw) * Decimal(repr(codec.scale)))
    words = codec.encode(value)
    assert len(words) == codec.words
    assert all(0 <= word <= 0xFFFF for word in words)
    assert codec.decode(words) == value


@given(integer_cases())
def test_integer_range_is_enforced(case: tuple[Codec, int]) -> None:
    codec, _raw = case
    low, high = INTEGER_RANGES[codec.data_type]
    step = Decimal(repr(codec.scale))
    for outside in (high + 1, low - 1):
        with pytest.raises(ChargerBadValue):
            codec.encode(float(Decimal(outside) * step))


def plausible(width: int = 64) -> st.SearchStrategy[float]:
    bound = FLOAT_PLAUSIBLE_MAX
    return st.floats(-bound, bound, allow_nan=False, width=width)  # type: ignore[arg-type]


@given(plausible(32), word_orders)
def test_float32_round_trips_to_the_shortest_equal_decimal(value: float, order: WordOrder) -> None:
    codec = Codec("float32", word_order=order)
    decoded = codec.decode(codec.encode(value))
    assert isinstance(decoded, float)
    assert struct.pack(">f", decoded) == struct.pack(">f", value)
    assert decoded == shortest_float32(value)


@given(plausible(), word_orders)
def test_float64_round_trips_exactly(value: float, order: WordOrder) -> None:
    codec = Codec("float64", word_order=order)
    assert codec.decode(codec.encode(value)) == value


def test_nan_reads_as_not_available() -> None:
    # Alfen answers NaN for registers it does not have (ALFEN-DOC §1.2)
    assert Codec("float32").decode((0xFFFF, 0xFFFF)) is None
    assert Codec("uint32", missing=frozenset({0xFFFF_FFFF})).decode((0xFFFF, 0xFFFF)) is None


@pytest.mark.parametrize("data_type", ["float32", "float64"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 3e38, -3e38, 1e10])
def test_non_finite_and_absurd_floats_read_as_not_available(data_type: str, value: float) -> None:
    # issue 11: a box reporting inf or 3e38 A made the allowed current +inf
    for order in ("big", "little"):
        codec = Codec(data_type, word_order=order)  # type: ignore[arg-type]
        count, fmt = (2, ">f") if data_type == "float32" else (4, ">d")
        packed = struct.pack(fmt, value)
        words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 2 * count, 2)]
        if order == "little":
            words.reverse()
        assert codec.decode(words) is None
    assert Codec(data_type).decode(Codec(data_type).encode(FLOAT_PLAUSIBLE_MAX)) is not None  # type: ignore[arg-type]


@pytest.mark.parametrize("data_type", sorted(SENTINELS))
def test_sentinels_read_as_not_available(data_type: DataType) -> None:
    # KEBA, ABB and Phoenix declare no `missing`: 0xFFFFFFFF was 4294967.295 A at 0.001 A
    codec = Codec(data_type, scale=0.001)
    words = encode_number(data_type, SENTINELS[data_type], "big")
    assert codec.decode(words) is None
    # a profile's own `missing` list replaces the sentinel
    declared = Codec(data_type, missing=frozenset({7}))
    assert declared.decode(encode_number(data_type, 7, "big")) is None
    assert declared.decode(words) is not None


@given(
    st.sampled_from(["uint32", "int32", "float32", "float64"]),
    st.integers(0, 2**64 - 1),
)
def test_little_word_order_is_big_reversed(data_type: DataType, seed: int) -> None:
    big = Codec(data_type, word_order="big")
    little = Codec(data_type, word_order="little")
    words = tuple((seed >> (16 * i)) & 0xFFFF for i in range(words_of(data_type)))
    assume(big.decode(words) is not None)
    assert little.decode(tuple(reversed(words))) == big.decode(words)
    value = big.decode(words)
    assert value is not None
    assert little.encode(value) == tuple(reversed(big.encode(value)))


def test_word_order_on_known_bytes() -> None:
    # 0x12345678 hi-first is (0x1234, 0x5678); lo-first (CDAB) is (0x5678, 0x1234)
    assert Codec("uint32").encode(0x12345678) == (0x1234, 0x5678)
    assert Codec("uint32", word_order="little").encode(0x12345678) == (0x5678, 0x1234)
    assert Codec("float32").encode(10.0) == (0x4120, 0x0000)


@given(
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=10),
    st.integers(5, 8),
)
def test_strings_round_trip(text: str, length: int) -> None:
    codec = Codec("string", length=length)
    words = codec.encode(text)
    assert len(words) == length
    assert codec.decode(words) == text


def test_string_too_long_is_refused() -> None:
    with pytest.raises(ChargerBadValue):
        Codec("string", length=1).encode("ABC")


@given(
    st.floats(0, 100, allow_nan=False).map(lambda v: round(v, 4)),
    st.sampled_from([1.0, 0.1, 0.01, 0.001]),
)
def test_quantise_down_never_rounds_up(value: float, step: float) -> None:
    result = quantise_down(value, step)
    assert result <= value
    assert value - result < step + 1e-9
    steps = Decimal(repr(result)) / Decimal(repr(step))
    assert steps == steps.to_integral_value()


def test_quantise_down_counts_decimal_steps() -> None:
    assert quantise_down(10.3, 0.1) == 10.3  # not 10.2 from binary 10.299999...
    assert quantise_down(10.0, 0.001) == 10.0
    assert quantise_down(15.99, 1.0) == 15.0


@given(
    st.floats(0, 100, allow_nan=False),
    st.sampled_from([1.0, 0.1, 0.001]),
    st.sampled_from([6.0, 0.0]),
    st.sampled_from([16.0, 32.0, 63.0]),
)
def test_setpoint_is_never_above_the_request_or_the_range(
    request_a: float, step: float, min_a: float, max_a: float
) -> None:
    setpoint = Setpoint("setpoint", step, min_a, max_a, Pause("zero"))
    allowed = setpoint.allowed_a(request_a)
    assert allowed <= request_a
    assert allowed <= max_a
    assert allowed == 0.0 or min_a <= allowed
    assert allowed == quantise_down(allowed, step)
    rounded = quantise_down(min(request_a, max_a), step)
    if rounded >= min_a:
        assert allowed == rounded  # only a request below the minimum pauses


def test_setpoint_refuses_negative_and_nan() -> None:
    setpoint = Setpoint("setpoint", 1.0, 6.0, 32.0, Pause("zero"))
    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError, match="cannot offer"):
            setpoint.allowed_a(bad)
