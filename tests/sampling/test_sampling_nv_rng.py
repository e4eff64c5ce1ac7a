"""The NV noise source: A1111's CPU reimplementation of CUDA's randn (reference §11)."""

from __future__ import annotations

import numpy as np

from sdkit.sampling.nv_rng import NVGenerator, philox4x32

# Reference §11: torch.randn(3, 4) on CUDA with seed 0, as printed there (8 digits).
SEED_0_3X4 = np.array([
    [-0.92466259, -0.42534415, -2.6438457, 0.14518388],
    [-0.12086647, -0.57972564, -0.62285122, -0.32838709],
    [-1.07454231, -0.36314407, -1.67105067, 2.26550497],
])


# What A1111 v1.10's own modules/rng_philox.py (commit ef1698fd) returned in a scratch harness, float32
# values written exactly (float.hex): `Generator(seed).randn(shape)`, successive calls in order.
A1111_NV_SEED_0_3X4 = [
    "-0x1.d96d5ap-1", "-0x1.b38d5ep-2", "-0x1.52698ap+1", "0x1.29562ap-3",
    "-0x1.ef11b8p-4", "-0x1.28d1cep-1", "-0x1.3ee65ep-1", "-0x1.5044b8p-2",
    "-0x1.131530p+0", "-0x1.73dc0cp-2", "-0x1.abc9f6p+0", "0x1.21fc12p+1",
]
A1111_NV_SEED_1234_2X4_TWO_CALLS = [
    ["-0x1.9dd250p+0", "0x1.230c90p-1", "-0x1.053c28p-1", "-0x1.d29b14p-1",
     "-0x1.27cff8p+0", "-0x1.cf2830p-3", "-0x1.4a0496p+0", "0x1.10bce4p+0"],
    ["0x1.44236ep-1", "0x1.a2c53ap+0", "-0x1.6229e4p-2", "0x1.05016ap+0",
     "-0x1.a61726p-2", "0x1.6d8926p+0", "0x1.f0277ap-1", "-0x1.9b1c4ap+0"],
]
A1111_NV_SEED_2POW32_PLUS_5_4 = ["-0x1.6bdf26p+1", "0x1.572a82p+0", "0x1.16c3b0p-2", "0x1.747f00p+0"]


def _floats(hexes: list[str]) -> np.ndarray:
    return np.array([float.fromhex(value) for value in hexes], dtype=np.float32)


def test_default_arithmetic_is_a1111s_nv_setting_bit_for_bit():
    assert np.array_equal(NVGenerator(0).randn((3, 4)).ravel(), _floats(A1111_NV_SEED_0_3X4))
    generator = NVGenerator(1234)
    for expected in A1111_NV_SEED_1234_2X4_TWO_CALLS:  # the second call continues at offset 1, as A1111's
        assert np.array_equal(generator.randn((2, 4)).ravel(), _floats(expected))
    assert np.array_equal(NVGenerator(2**32 + 5).randn((4,)), _floats(A1111_NV_SEED_2POW32_PLUS_5_4))
    assert np.array_equal(NVGenerator(0, arithmetic="a1111-port").randn((3, 4)), NVGenerator(0).randn((3, 4)))


def test_exact_arithmetic_is_not_a1111s_but_the_cuda_vector():
    exact = NVGenerator(0, arithmetic="exact").randn((3, 4)).ravel()
    a1111 = _floats(A1111_NV_SEED_0_3X4)
    ulps = np.abs(exact.view(np.int32).astype(np.int64) - a1111.view(np.int32).astype(np.int64))
    # Measured: [3 6 0 0 4 1 2 2 2 1 2 0] ulps between the two arithmetics on this vector.
    assert ulps.tolist() == [3, 6, 0, 0, 4, 1, 2, 2, 2, 1, 2, 0]


def test_exact_arithmetic_matches_the_reference_vector_to_its_printed_digits():
    values = NVGenerator(0, arithmetic="exact").randn((3, 4))
    assert values.dtype == np.float32 and values.shape == (3, 4)
    # Half a unit in the vector's last printed digit, plus half a float32 ulp of the value.
    printed_digits = 8 - np.floor(np.log10(np.abs(SEED_0_3X4))) - 1
    allowed = 0.5 * 10.0 ** -printed_digits + np.spacing(np.abs(values)) / 2
    assert np.all(np.abs(values.astype(np.float64) - SEED_0_3X4) <= allowed)


def test_a1111_port_arithmetic_is_a_few_ulps_from_the_vector():
    exact = NVGenerator(0, arithmetic="exact").randn((3, 4))
    port = NVGenerator(0, arithmetic="a1111-port").randn((3, 4))
    ulps = np.abs(port.view(np.int32).astype(np.int64) - exact.view(np.int32).astype(np.int64))
    assert 0 < ulps.max() <= 8
    assert np.abs(port - SEED_0_3X4).max() < 1e-6


def test_philox_matches_the_random123_known_answer():
    # Random123's kat_vectors: philox4x32_10 with counter and key all 0xFFFFFFFF... first the zero case.
    zero = philox4x32(np.zeros((4, 1), dtype=np.uint32), np.zeros((2, 1), dtype=np.uint32))[:, 0]
    assert [int(word) for word in zero] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    ones = philox4x32(np.full((4, 1), 0xFFFFFFFF, dtype=np.uint32), np.full((2, 1), 0xFFFFFFFF, dtype=np.uint32))
    assert [int(word) for word in ones[:, 0]] == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]


def test_calls_continue_like_a_generator_and_repeat_with_the_seed():
    generator = NVGenerator(1234)
    first, second = generator.randn((2, 8)), generator.randn((2, 8))
    assert generator.offset == 2
    assert not np.array_equal(first, second)
    again = NVGenerator(1234)
    assert np.array_equal(again.randn((2, 8)), first) and np.array_equal(again.randn((2, 8)), second)
    assert not np.array_equal(NVGenerator(1235).randn((2, 8)), first)


def test_a_larger_call_starts_with_the_same_numbers_and_is_standard_normal():
    small = NVGenerator(7).randn((5,))
    large = NVGenerator(7).randn((4, 64, 64))
    assert np.array_equal(large.reshape(-1)[:5], small)  # element j depends only on j, not the shape
    assert abs(float(large.mean())) < 0.03 and abs(float(large.std()) - 1) < 0.03


def test_seeds_above_32_bits_use_the_high_word_of_the_key():
    assert not np.array_equal(NVGenerator(1).randn((4,)), NVGenerator(1 + 2**32).randn((4,)))
    tensor = NVGenerator(3).randn_tensor((2, 2))
    assert tuple(tensor.shape) == (2, 2) and str(tensor.dtype) == "torch.float32"
