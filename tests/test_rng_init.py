"""Random numbers (Philox4x32-10, include/dagnet/rng.h) and initialisers
(include/dagnet/init.h): known answers, an independent Python Philox, fills at
any offset equal to single draws, moments of the uniform and normal draws,
permutations, and the bounds and spreads of every initialiser."""

import math
from itertools import permutations

import numpy as np
import pytest

from dagnet import _core
from test_gemm import isa  # noqa: F401  (the instruction-set fixture)

M32 = 0xFFFFFFFF


def philox_py(ctr, key):
    """Philox4x32-10 in plain Python (Salmon et al., SC 2011; Random123
    constants): the independent reference."""
    c = list(ctr)
    k0, k1 = key & M32, key >> 32
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c[3] ^ k1) & M32, p0 & M32]
        k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
    return c


def word_py(seed, stream, pos):
    """Word `pos` of stream (seed, stream) as include/dagnet/rng.h defines it."""
    block = pos // 4
    ctr = [block & M32, block >> 32, stream & M32, stream >> 32]
    return philox_py(ctr, seed)[pos % 4]


# --- Philox --------------------------------------------------------------------------------------

KNOWN = [  # Random123's known-answer vectors for philox4x32-10
    ([0, 0, 0, 0], 0, [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([M32] * 4, 2 ** 64 - 1, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], 0x299F31D0A4093822,
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]


@pytest.mark.parametrize("ctr,key,expect", KNOWN)
def test_philox_known_answers(ctr, key, expect):
    assert _core.philox4x32(ctr, key) == expect
    assert philox_py(ctr, key) == expect


def test_philox_matches_python_reference_on_random_blocks():
    rng = np.random.default_rng(0)
    for _ in range(50):
        ctr = [int(v) for v in rng.integers(0, 2 ** 32, 4)]
        key = int(rng.integers(0, 2 ** 63)) * 2 + int(rng.integers(0, 2))
        assert _core.philox4x32(ctr, key) == philox_py(ctr, key)


STREAMS = [(0, 0), (1, 0), (0, 1), (2 ** 64 - 1, 2 ** 64 - 1), (12345, (7 << 40) ^ 3),
           (2 ** 40 + 17, 2 ** 33 + 5)]


@pytest.mark.parametrize("seed,stream", STREAMS)
def test_words_follow_the_documented_counter_layout(seed, stream):
    for pos in [0, 1, 2, 3, 4, 5, 1023, 1024, 4097, 2 ** 34 + 6]:
        assert _core.rng_u32(seed, stream, pos, 1)[0] == word_py(seed, stream, pos)


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 5, 4093, 2 ** 33 + 3])
@pytest.mark.parametrize("n", [1, 3, 4, 7, 33, 1030, 5001])
def test_fill_at_offset_equals_single_draws(offset, n):
    seed, stream = 77, 5
    fill = _core.rng_u32(seed, stream, offset, n)
    ref = np.array([word_py(seed, stream, offset + i) for i in range(min(n, 40))], np.uint32)
    np.testing.assert_array_equal(fill[:len(ref)], ref)
    # the rest against fills that start elsewhere: every word depends on its position only
    whole = _core.rng_u32(seed, stream, offset - offset % 4, n + offset % 4 + 3)
    np.testing.assert_array_equal(fill, whole[offset % 4:offset % 4 + n])
    last = _core.rng_u32(seed, stream, offset + n - 1, 1)
    assert fill[-1] == last[0]
    for k in (1, 2, 7, n // 2):
        if 0 < k < n:
            np.testing.assert_array_equal(fill[k:], _core.rng_u32(seed, stream, offset + k, n - k))


@pytest.mark.parametrize("offset", [0, 3, 64, (2 ** 32 - 5) * 4 + 1])
def test_bulk_fills_equal_single_draws_on_every_instruction_set(isa, offset):
    """The vector paths (16 blocks at a time) give the words of the counter
    layout, also where the block counter's low word wraps."""
    seed, stream = 2 ** 40 + 9, 2 ** 35 + 1
    for n in (63, 64, 65, 200):
        fill = _core.rng_u32(seed, stream, offset, n)
        ref = np.array([word_py(seed, stream, offset + i) for i in range(n)], np.uint32)
        np.testing.assert_array_equal(fill, ref, err_msg=f"{isa} offset {offset} n {n}")


def test_streams_and_seeds_differ():
    a = _core.rng_u32(1, 0, 0, 64)
    assert not np.array_equal(a, _core.rng_u32(2, 0, 0, 64))
    assert not np.array_equal(a, _core.rng_u32(1, 1, 0, 64))
    assert not np.array_equal(a, _core.rng_u32(1, 1 << 32, 0, 64))  # high half of the stream
    np.testing.assert_array_equal(a, _core.rng_u32(1, 0, 0, 64))


def test_words_are_uniform_bits():
    w = _core.rng_u32(3, 9, 0, 1 << 16).astype(np.uint64)
    bits = np.array([(w >> b) & 1 for b in range(32)], np.float64).mean(1)
    assert np.abs(bits - 0.5).max() < 5 * 0.5 / math.sqrt(w.size)


# --- uniform and normal --------------------------------------------------------------------------

@pytest.mark.parametrize("offset", [0, 3, 1021])
def test_uniform_is_the_top_24_bits_of_the_words(offset):
    n = 3001
    u = _core.rng_uniform(11, 4, offset, n)
    w = _core.rng_u32(11, 4, offset, n)
    np.testing.assert_array_equal(u, ((w >> 8).astype(np.float64) / 2 ** 24).astype(np.float32))
    np.testing.assert_array_equal(u[10:], _core.rng_uniform(11, 4, offset + 10, n - 10))


def test_uniform_moments_and_histogram():
    n = 400_000
    u = _core.rng_uniform(5, 1, 0, n).astype(np.float64)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / n)
    counts = np.histogram(u, bins=50, range=(0, 1))[0]
    chi2 = ((counts - n / 50) ** 2 / (n / 50)).sum()
    assert chi2 < 100  # 49 degrees of freedom: the 99.999th percentile is about 101


def box_muller_py(a, b):
    """Element pair from words (a, b) per src/rng.c's documented Box-Muller."""
    u1 = (a.astype(np.float64) + 0.5) / 2 ** 32
    r = np.sqrt(-2 * np.log(u1))
    theta = 2 * np.pi * (b >> 8).astype(np.float64) / 2 ** 24
    return r * np.cos(theta), r * np.sin(theta)


@pytest.mark.parametrize("offset", [0, 2, 1024])
@pytest.mark.parametrize("n", [1, 2, 5, 2051])
def test_normal_uses_pairs_of_words(offset, n):
    z = _core.rng_normal(8, 2, offset, n)
    pairs = (n + 1) // 2
    w = _core.rng_u32(8, 2, offset, 2 * pairs)
    z0, z1 = box_muller_py(w[0::2], w[1::2])
    expect = np.empty(2 * pairs)
    expect[0::2], expect[1::2] = z0, z1
    np.testing.assert_allclose(z, expect[:n], rtol=1e-5, atol=2e-6)
    if n > 2:  # element i depends on its position only
        np.testing.assert_array_equal(z[2:], _core.rng_normal(8, 2, offset + 2, n - 2))


def test_normal_moments():
    n = 400_000
    z = _core.rng_normal(6, 3, 0, n).astype(np.float64)
    assert np.all(np.isfinite(z))
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)
    skew = np.mean(z ** 3)
    kurt = np.mean(z ** 4)
    assert abs(skew) < 5 * math.sqrt(15 / n)
    assert abs(kurt - 3) < 5 * math.sqrt(96 / n)
    within = np.mean(np.abs(z) < 1)
    assert abs(within - 0.682689) < 5 * math.sqrt(0.2166 / n)
    # even and odd elements (cos and sin of a pair) are uncorrelated
    assert abs(np.corrcoef(z[0::2], z[1::2])[0, 1]) < 5 / math.sqrt(n / 2)


# --- permutations --------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000, 65537])
def test_permutation_is_valid_and_deterministic(n):
    p = _core.rng_permutation(4, 2, n)
    assert p.dtype == np.int64 and p.shape == (n,)
    np.testing.assert_array_equal(np.sort(p), np.arange(n))
    np.testing.assert_array_equal(p, _core.rng_permutation(4, 2, n))
    if n >= 7:
        assert not np.array_equal(p, _core.rng_permutation(4, 3, n))
        assert not np.array_equal(p, _core.rng_permutation(5, 2, n))
        assert not np.array_equal(p, np.arange(n))


def test_permutations_of_four_are_uniform():
    trials = 4800
    index = {perm: k for k, perm in enumerate(permutations(range(4)))}
    counts = np.zeros(24)
    for s in range(trials):
        counts[index[tuple(_core.rng_permutation(9, s, 4).tolist())]] += 1
    chi2 = ((counts - trials / 24) ** 2 / (trials / 24)).sum()
    assert chi2 < 60  # 23 degrees of freedom: the 99.99th percentile is about 55


def test_permutation_positions_are_uniform():
    n, trials = 10, 3000
    counts = np.zeros((n, n))
    for s in range(trials):
        p = _core.rng_permutation(1, s, n)
        counts[np.arange(n), p] += 1
    expect = trials / n
    chi2 = ((counts - expect) ** 2 / expect).sum()
    assert chi2 < 160  # 81 degrees of freedom: the 99.999th percentile is about 140
    assert np.abs(counts - expect).max() < 6 * math.sqrt(expect)


# --- initialisers --------------------------------------------------------------------------------

FAN_IN, FAN_OUT = 300, 200

# name, scale argument, kind ("uniform" limit or "normal" std) and its value
INITS = [
    ("uniform", 0.3, "uniform", 0.3),
    ("normal", 0.3, "normal", 0.3),
    ("lecun_uniform", 1.0, "uniform", math.sqrt(3 / FAN_IN)),
    ("lecun_normal", 1.0, "normal", math.sqrt(1 / FAN_IN)),
    ("glorot_uniform", 1.0, "uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("glorot_normal", 1.0, "normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("he_normal", 1.0, "normal", math.sqrt(2 / FAN_IN)),
    ("he_uniform", 1.0, "uniform", math.sqrt(6 / FAN_IN)),
    ("sklearn", 6.0, "uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("sklearn", 2.0, "uniform", math.sqrt(2 / (FAN_IN + FAN_OUT))),  # logistic output layer
]


@pytest.mark.parametrize("init,scale,kind,value", INITS, ids=[f"{c[0]}-{c[1]}" for c in INITS])
def test_initialiser_bounds_and_spread(init, scale, kind, value):
    shape = (FAN_IN, FAN_OUT)
    w = _core.init_fill(shape, init, scale, FAN_IN, FAN_OUT, seed=3, stream=7).astype(np.float64)
    assert w.shape == shape
    n = w.size
    if kind == "uniform":
        assert np.abs(w).max() <= value * (1 + 1e-6)
        assert np.abs(w).max() > 0.999 * value  # the range is used to its ends
        std = value / math.sqrt(3)
    else:
        std = value
        assert np.abs(w).max() > 3.5 * std  # tails of a normal, not a uniform
    assert abs(w.mean()) < 5 * std / math.sqrt(n)
    assert abs(w.std() - std) < 0.01 * std
    # reproducible, a function of (seed, stream, position)
    np.testing.assert_array_equal(w, _core.init_fill(shape, init, scale, FAN_IN, FAN_OUT, 3, 7))
    assert not np.array_equal(w, _core.init_fill(shape, init, scale, FAN_IN, FAN_OUT, 3, 8))
    assert not np.array_equal(w, _core.init_fill(shape, init, scale, FAN_IN, FAN_OUT, 4, 7))
    head = _core.init_fill((101,), init, scale, FAN_IN, FAN_OUT, 3, 7)
    np.testing.assert_array_equal(head, w.reshape(-1)[:101].astype(np.float32))


def test_zeros_and_constant():
    np.testing.assert_array_equal(_core.init_fill((3, 4), "zeros", 5.0), 0.0)
    np.testing.assert_array_equal(_core.init_fill((7,), "constant", -1.5), -1.5)
    assert _core.init_fill((0, 3), "glorot_uniform").shape == (0, 3)


def test_fans_change_the_spread():
    # Glorot depends on both fans, He on fan_in only
    a = _core.init_fill((20000,), "glorot_normal", 1.0, 10, 10, 0, 0).std()
    b = _core.init_fill((20000,), "glorot_normal", 1.0, 10, 1000, 0, 0).std()
    assert a == pytest.approx(math.sqrt(2 / 20), rel=0.03)
    assert b == pytest.approx(math.sqrt(2 / 1010), rel=0.03)
    c = _core.init_fill((20000,), "he_normal", 1.0, 50, 1, 0, 0).std()
    d = _core.init_fill((20000,), "he_normal", 1.0, 50, 5000, 0, 0).std()
    assert c == d and c == pytest.approx(math.sqrt(2 / 50), rel=0.03)


@pytest.mark.parametrize("init,kw,message", [
    ("glorot_uniform", dict(fan_in=0), "fan_in"),
    ("glorot_normal", dict(fan_out=0), "fan_out"),
    ("he_normal", dict(fan_in=-3), "fan_in"),
    ("lecun_uniform", dict(fan_in=0), "fan_in"),
    ("sklearn", dict(scale=0.0), "factor"),
    ("uniform", dict(scale=-1.0), "range"),
    ("normal", dict(scale=-1.0), "standard deviation"),
    ("normal", dict(scale=float("nan")), "finite"),
])
def test_initialiser_errors(init, kw, message):
    args = dict(scale=1.0, fan_in=3, fan_out=3)
    args.update(kw)
    with pytest.raises(ValueError, match=message):
        _core.init_fill((4,), init, **args)


def test_unknown_initialiser_lists_the_names():
    with pytest.raises(ValueError, match="'glorot_uniform'.*'sklearn'"):
        _core.init_fill((4,), "xavier")


def _linear_params(units, n_in, seed=0, **attrs):
    g = _core.Graph()
    y = g.add_node("linear", [g.add_input((n_in,))], units=units, **attrs)
    g.set_outputs([y])
    g.compile(seed=seed)
    return {name.split(".")[1]: value.copy() for name, _, value, _, _ in g.params()}


def test_linear_layer_initialises_with_its_fans():
    # default: glorot_uniform weights with fan_in = n_in, fan_out = units; zero bias
    p = _linear_params(200, 300)
    limit = math.sqrt(6 / 500)
    assert np.abs(p["weight"]).max() <= limit and np.abs(p["weight"]).max() > 0.999 * limit
    assert p["weight"].std() == pytest.approx(limit / math.sqrt(3), rel=0.02)
    np.testing.assert_array_equal(p["bias"], 0.0)
    # scikit-learn's rule for weights and biases, with the logistic factor 2
    p = _linear_params(200, 300, w_init="sklearn", w_scale=2.0, b_init="sklearn", b_scale=2.0)
    limit = math.sqrt(2 / 500)
    for k in ("weight", "bias"):
        assert np.abs(p[k]).max() <= limit
    assert np.abs(p["weight"]).max() > 0.999 * limit
    assert p["weight"].std() == pytest.approx(limit / math.sqrt(3), rel=0.02)
    assert p["bias"].std() > 0.4 * limit
    # he_normal: std sqrt(2 / fan_in)
    p = _linear_params(200, 300, w_init="he_normal")
    assert p["weight"].std() == pytest.approx(math.sqrt(2 / 300), rel=0.02)
    # the graph seed decides the draws; weights and bias use different streams
    np.testing.assert_array_equal(_linear_params(20, 30, seed=4)["weight"],
                                  _linear_params(20, 30, seed=4)["weight"])
    assert not np.array_equal(_linear_params(20, 30, seed=4)["weight"],
                              _linear_params(20, 30, seed=5)["weight"])
    p = _linear_params(20, 20, b_init="uniform", b_scale=1.0, w_init="uniform", w_scale=1.0)
    assert not np.array_equal(p["weight"][0], p["bias"])
