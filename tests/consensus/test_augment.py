"""Data augmentation (``--augment shift``): seeded per agent and round, shifts with zero fill, flips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from consensus.data.augment import RandomShift, resolve_augment
from consensus.errors import ConfigError


def _images(n: int, B: int, shape: tuple[int, int, int]) -> torch.Tensor:
    """Rows ``(n, B, C*H*W)`` of images whose pixels are all different and nonzero."""
    count = n * B * int(np.prod(shape))
    return torch.arange(1, count + 1, dtype=torch.float64).reshape(n, B, -1)


def _shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``img`` ``(C, H, W)`` with content moved by ``(dy, dx)`` pixels, zeros where it came from."""
    out = torch.zeros_like(img)
    H, W = img.shape[1:]
    out[:, max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = img[
        :, max(-dy, 0) : H + min(-dy, 0), max(-dx, 0) : W + min(-dx, 0)
    ]
    return out


def _moves(before: torch.Tensor, after: torch.Tensor, p: int) -> list[tuple[int, int, bool]]:
    """Every ``(dy, dx, mirrored)`` with ``|dy|, |dx| <= p`` that turns ``before`` into ``after``."""
    return [
        (dy, dx, mirror)
        for dy in range(-p, p + 1)
        for dx in range(-p, p + 1)
        for mirror in (False, True)
        if torch.equal(
            after, _shifted(before, dy, dx).flip(-1) if mirror else _shifted(before, dy, dx)
        )
    ]


def test_a_draw_depends_on_seed_agent_and_round_not_on_the_other_agents() -> None:
    shape = (1, 8, 8)
    x = _images(3, 16, shape)
    shift = resolve_augment("shift:pixels=2,flip=true")
    assert isinstance(shift, RandomShift)
    three = shift.bind(shape, seed=5, agent_ids=np.array([0, 1, 2]))
    one = shift.bind(shape, seed=5, agent_ids=np.array([1]))
    for t in (0, 7):
        assert torch.equal(three(x, t)[1:2], one(x[1:2], t))
    assert torch.equal(three(x, 3), three(x, 3))
    same = torch.stack([x[1]] * 3)  # the same rows on three agents: their draws differ
    out = three(same, 3)
    assert not torch.equal(out[0], out[1]) and not torch.equal(out[1], out[2])
    assert not torch.equal(three(x, 3), three(x, 4))  # rounds differ
    other_seed = shift.bind(shape, seed=6, agent_ids=np.array([0, 1, 2]))
    assert not torch.equal(three(x, 3), other_seed(x, 3))


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 6, 7)])
@pytest.mark.parametrize("pixels", [1, 2])
def test_shifts_move_content_by_at_most_pixels_with_zero_fill(
    shape: tuple[int, int, int], pixels: int
) -> None:
    n, B = 2, 150
    x = _images(n, B, shape)
    out = RandomShift(pixels=pixels).bind(shape, seed=0, agent_ids=np.array([3, 4]))(x, 2)
    assert out.shape == x.shape and out.dtype == x.dtype
    seen = set()
    for i in range(n):
        for b in range(B):
            moves = _moves(x[i, b].reshape(shape), out[i, b].reshape(shape), pixels)
            assert len(moves) == 1, (i, b, moves)  # every pixel differs: one move fits
            dy, dx, mirrored = moves[0]
            assert not mirrored  # flip=false (the default) never mirrors
            seen.add((dy, dx))
    assert len(seen) == (2 * pixels + 1) ** 2  # every shift in the window is drawn


def test_flips_mirror_some_images_and_keep_their_shape() -> None:
    shape = (2, 8, 8)
    x = _images(1, 64, shape).reshape(1, 64, *shape)  # (n, B, C, H, W) rows keep their layout
    out = RandomShift(pixels=0, flip=True).bind(shape, seed=0, agent_ids=np.array([0]))(x, 1)
    assert out.shape == x.shape
    mirrored = [bool(torch.equal(out[0, b], x[0, b].flip(-1))) for b in range(64)]
    kept = [bool(torch.equal(out[0, b], x[0, b])) for b in range(64)]
    assert all(m != k for m, k in zip(mirrored, kept, strict=True))  # one or the other
    assert 10 < sum(mirrored) < 54
    never = RandomShift(pixels=0, flip=False).bind(shape, seed=0, agent_ids=np.array([0]))
    assert torch.equal(never(x, 1), x)  # no shift, no flip: the identity


def test_float32_rows_stay_float32() -> None:
    shape = (1, 8, 8)
    x = torch.randn(2, 5, 64)
    out = RandomShift().bind(shape, seed=0, agent_ids=np.array([0, 1]))(x, 0)
    assert out.dtype == torch.float32 and out.shape == x.shape


def test_specs_and_refusals() -> None:
    assert resolve_augment(None) is None and resolve_augment("none") is None
    assert resolve_augment(" ") is None
    shift = resolve_augment("shift:pixels=3,flip=true")
    assert shift == RandomShift(pixels=3, flip=True)
    assert resolve_augment(shift.spec()) == shift and shift.spec() == "shift:pixels=3,flip=true"
    assert resolve_augment("shift") == RandomShift(pixels=1, flip=False)
    with pytest.raises(ConfigError, match="unknown augmentation 'shft'; did you mean 'shift'"):
        resolve_augment("shft")
    with pytest.raises(ConfigError, match="pixels=-1 must be >= 0"):
        resolve_augment("shift:pixels=-1")
    with pytest.raises(ConfigError, match="--augment needs image data"):
        RandomShift().bind(None, seed=0, agent_ids=np.array([0]))
    with pytest.raises(ConfigError, match="--augment needs image data"):
        RandomShift().bind((64,), seed=0, agent_ids=np.array([0]))
    with pytest.raises(
        ConfigError, match=r"pixels=4 is too large for 8 x 8 images; use pixels < 4"
    ):
        RandomShift(pixels=4).bind((1, 8, 8), seed=0, agent_ids=np.array([0]))
    with pytest.raises(
        ConfigError, match=r"pixels=4 is too large for 7 x 9 images; use pixels < 4"
    ):
        RandomShift(pixels=4).bind((1, 7, 9), seed=0, agent_ids=np.array([0]))
    RandomShift(pixels=3).bind((1, 7, 9), seed=0, agent_ids=np.array([0]))  # 3 < 7 / 2: fine
