"""Data augmentation for image rows: random shifts and flips, seeded per agent and round.

A draw depends only on ``(seed, agent id, round, sample)``, as batches do, so a
run gives the same augmented batches whichever process hosts the agent. The
layer-parallel hybrid (``sph``) augments its serial rounds only: its parallel
rounds keep one auxiliary state per training sample, which an augmented sample
would not match.

Examples
--------
>>> import numpy as np, torch
>>> shift = resolve_augment("shift:pixels=1,flip=true")
>>> apply = shift.bind((1, 8, 8), seed=0, agent_ids=np.array([0, 1]))
>>> x = torch.arange(2 * 3 * 64, dtype=torch.float32).reshape(2, 3, 64)
>>> apply(x, t=5).shape, bool(torch.equal(apply(x, t=5), apply(x, t=5)))
(torch.Size([2, 3, 64]), True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .hashing import hash_ints

#: ``(x (n, B, features), round) -> augmented x``.
Augment = Callable[..., torch.Tensor]

_SALT = 0xA06  # keeps augmentation draws apart from batch draws


@dataclass(frozen=True)
class RandomShift:
    """Shift each image by up to ``pixels`` in each direction (zero fill), and mirror it if ``flip``.

    Shifts of a few pixels and horizontal flips are the standard augmentation
    of small-image classification (flips suit natural images, not digits, so
    they are off by default).
    """

    name: ClassVar[str] = "shift"
    pixels: int = 1
    flip: bool = False

    def __post_init__(self) -> None:
        if self.pixels < 0:
            raise ConfigError(f"shift: pixels={self.pixels} must be >= 0")

    def spec(self) -> str:
        """The spec string that rebuilds this augmentation."""
        return f"{self.name}:pixels={self.pixels},flip={str(self.flip).lower()}"

    def bind(
        self, image_shape: tuple[int, ...] | None, *, seed: int, agent_ids: np.ndarray
    ) -> Augment:
        """The augmentation of the rows of ``agent_ids``' images of ``image_shape``."""
        if image_shape is None or len(image_shape) != 3:
            raise ConfigError(
                "--augment needs image data (a dataset with an image shape, such as digits); "
                "this dataset's rows are not images: drop --augment"
            )
        p, (C, H, W) = self.pixels, image_shape
        if 2 * p >= min(H, W):
            raise ConfigError(
                f"shift: pixels={p} is too large for {H} x {W} images; "
                f"use pixels < {(min(H, W) + 1) // 2}"
            )
        agents = np.asarray(agent_ids, dtype=np.int64)[:, None]
        flip = self.flip

        def apply(x: torch.Tensor, t: int) -> torch.Tensor:
            n, B = x.shape[:2]
            h = hash_ints(seed, agents, t, np.arange(B)[None, :], _SALT)  # (n, B)
            dy = torch.from_numpy((h % np.uint64(2 * p + 1)).astype(np.int64))
            dx = torch.from_numpy(((h >> np.uint64(16)) % np.uint64(2 * p + 1)).astype(np.int64))
            mirror = torch.from_numpy(((h >> np.uint64(32)) & np.uint64(1)).astype(bool))
            img = x.reshape(n * B, C, H, W)
            padded = F.pad(img, (p, p, p, p))
            # Crop the padded image at offset (dy, dx) with one gather: rows then columns.
            rows = (dy.reshape(-1, 1) + torch.arange(H)).to(x.device)  # (nB, H)
            cols = (dx.reshape(-1, 1) + torch.arange(W)).to(x.device)  # (nB, W)
            out = padded.gather(2, rows[:, None, :, None].expand(-1, C, -1, W + 2 * p))
            out = out.gather(3, cols[:, None, None, :].expand(-1, C, H, -1))
            if flip:
                out = torch.where(mirror.reshape(-1, 1, 1, 1).to(x.device), out.flip(-1), out)
            return out.reshape(x.shape)

        return apply


#: Augmentation name -> its options dataclass (``--augment NAME[:key=value,...]``).
AUGMENTATIONS: dict[str, type] = {"shift": RandomShift}


def resolve_augment(spec: str | RandomShift | None) -> RandomShift | None:
    """An augmentation from ``NAME[:key=value,...]``; None or ``""`` or ``"none"`` for none."""
    if spec is None or isinstance(spec, RandomShift):
        return spec
    if spec.strip() in {"", "none"}:
        return None
    from topologies.specs_grammar import resolve  # the grammar of topology and model specs

    return resolve(spec, AUGMENTATIONS, what="augmentation", error=ConfigError)
