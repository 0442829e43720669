"""Random affine augmentation: identity at zero strength, shapes, exact pixel shifts,
determinism with a generator, and clear errors for bad input."""

import math

import pytest
import torch

import dlcore as dl
from dlcore.transforms import RandomAffine, affine_transform, random_affine, random_affine_matrices


def images(n=6, c=1, h=8, w=8, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_zero_strength_is_the_identity():
    x = images(n=5, c=3, h=9, w=7)
    out = random_affine(
        x, rotation=0, shift=0, scale=0, shear=0, generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)
    theta = random_affine_matrices(4, (8, 8))  # all maxima default to 0
    torch.testing.assert_close(theta, torch.eye(2, 3).expand(4, 2, 3))


@pytest.mark.parametrize("shape", [(1, 1, 8, 8), (7, 1, 8, 8), (3, 3, 12, 10)])
def test_output_shape_dtype_and_range(shape):
    x = torch.rand(shape, dtype=torch.float64)
    out = random_affine(x, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    # bilinear interpolation with zero fill cannot leave the input range [0, 1]
    assert out.min() >= 0 and out.max() <= 1 + 1e-12


def test_same_generator_seed_gives_the_same_distortions():
    x = images()
    a = random_affine(x, generator=torch.Generator().manual_seed(5))
    b = random_affine(x, generator=torch.Generator().manual_seed(5))
    c = random_affine(x, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    # each image gets its own distortion: the same image twice comes out differently
    twice = random_affine(x[:1].repeat(2, 1, 1, 1), generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(twice[0], twice[1])


def test_random_affine_callable_is_reproducible_and_advances():
    x = images()
    aug1, aug2 = RandomAffine(seed=3), RandomAffine(seed=3)
    first = aug1(x)
    torch.testing.assert_close(first, aug2(x), rtol=0, atol=0)
    assert not torch.allclose(first, aug1(x))  # the next batch gets new distortions


def test_probability_p_leaves_the_other_images_unchanged():
    x = images(n=400)
    gen = torch.Generator().manual_seed(0)
    torch.testing.assert_close(random_affine(x, p=0.0, generator=gen), x, atol=1e-6, rtol=0)
    out = random_affine(x, p=0.5, generator=gen)
    unchanged = ((out - x).abs().flatten(1).amax(dim=1) < 1e-6).float().mean()
    assert 0.4 < unchanged < 0.6, unchanged  # about half the images are left alone


def test_whole_pixel_shift_moves_the_image_exactly():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3, 4] = 1.0
    theta = torch.tensor([[[1.0, 0.0, 2 / 8], [0.0, 1.0, -2 / 8]]])  # read 1 px right, 1 px up
    out = affine_transform(x, theta)
    expected = torch.zeros(1, 1, 8, 8)
    expected[0, 0, 4, 3] = 1.0  # the content moves 1 px left and 1 px down
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_rotation_by_the_maximum_angle_is_a_rotation_matrix():
    theta = random_affine_matrices(
        50, (8, 8), rotation=30, generator=torch.Generator().manual_seed(0)
    )
    a = theta[:, :, :2]
    dets = torch.linalg.det(a)
    torch.testing.assert_close(dets, torch.ones(50), atol=1e-5, rtol=0)
    angles = torch.atan2(a[:, 1, 0], a[:, 0, 0])
    assert angles.abs().max() <= math.radians(30) + 1e-6
    assert angles.abs().max() > math.radians(20)  # the range is used, not just the centre


def test_shift_and_scale_stay_within_their_limits():
    theta = random_affine_matrices(
        200, (8, 10), shift=2, scale=0.2, generator=torch.Generator().manual_seed(0)
    )
    assert theta[:, 0, 2].abs().max() <= 2 * 2 / 10 + 1e-6  # x shift: 2 px of width 10
    assert theta[:, 1, 2].abs().max() <= 2 * 2 / 8 + 1e-6  # y shift: 2 px of height 8
    zoom = 1 / theta[:, 0, 0]
    assert zoom.min() >= 0.8 - 1e-6 and zoom.max() <= 1.2 + 1e-6


def test_usable_as_fit_augment():
    x, y = images(n=64), torch.arange(64) % 10
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    h = dl.fit(
        model,
        (x, y),
        epochs=1,
        batch_size=32,
        augment=RandomAffine(seed=0),
        progress=False,
        device="cpu",
    )
    assert h.epochs == 1 and math.isfinite(h.train_loss[0])


# ----------------------------------------------------------------------------- bad input


def test_rejects_wrong_rank_and_types():
    with pytest.raises(ValueError, match=r"x must have 4 dimensions \(N, C, H, W\)"):
        random_affine(torch.zeros(8, 8))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        random_affine([[0.0]])
    with pytest.raises(TypeError, match="floating-point"):
        random_affine(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"theta must have shape \(2, 2, 3\)"):
        affine_transform(torch.zeros(2, 1, 8, 8), torch.zeros(1, 2, 3))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rotation": -1}, "rotation must be in"),
        ({"rotation": 180}, "rotation must be in"),
        ({"shift": -0.5}, "shift must be >= 0"),
        ({"scale": 1.0}, "scale must be in"),
        ({"shear": 90}, "shear must be in"),
        ({"p": -0.1}, "p must be >= 0"),
        ({"p": 1.5}, r"p must be in \[0, 1\]"),
    ],
)
def test_rejects_out_of_range_strengths(kwargs, message):
    with pytest.raises(ValueError, match=message):
        random_affine(images(), **kwargs)
    with pytest.raises(ValueError, match=message):
        RandomAffine(**kwargs)


def test_rejects_non_numeric_strength():
    with pytest.raises(TypeError, match="rotation must be a number"):
        random_affine(images(), rotation="10")
