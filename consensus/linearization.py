"""The output linearization of the hosted agents' models, per block of parameters.

NEXT's partially linearized surrogates replace the network's outputs by
``out + J_b V_b``, where ``J_b`` is the Jacobian of the outputs in the
parameters of block ``b`` (``partial``: one block, every parameter; ``block``:
one block per layer, the others frozen). A :class:`Linearization` gives

- ``push(V)``: ``J_b V_b`` for every block ``b``, shape ``(K, n, B, C)``, each
  from the columns of its own block (``V`` is ``(n, d_here)``);
- ``pull(U)``: ``J_b^T U_b`` written into block ``b``'s columns, from
  ``U`` of shape ``(K, n, B, C)``;
- ``block_sum(v)``: per agent and block, the sum of ``v`` over the block's
  columns, ``(n, K_here)``, with the parts held by other stage processes added;
- ``expand(s)``: per-block values ``(n, K_here)`` back onto the columns.

A process holding every column has every block (``K_here = K``). A stage
process of a layer-parallel agent holds the columns of its stage: with one
block (``partial``) the block spans every stage and ``block_sum`` adds the
stages' parts; with layer blocks each block lies in one stage, whose process
solves it while the other stages solve theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Linearization:
    """Outputs at the expansion point and the products with the blockwise output Jacobian.

    ``blocks`` is the number K of blocks over all of an agent's columns;
    ``first`` the index of the first block whose columns are held here and
    ``local_blocks`` how many are; ``block_of[j]`` the block (counted from
    ``first``) of each column held here.
    """

    out: torch.Tensor
    push: Callable[[torch.Tensor], torch.Tensor]
    pull: Callable[[torch.Tensor], torch.Tensor]
    blocks: int
    first: int
    local_blocks: int
    block_of: torch.Tensor
    columns: torch.Tensor
    reduce: Callable[[torch.Tensor], torch.Tensor]

    def block_sum(self, v: torch.Tensor) -> torch.Tensor:
        """``(n, d_here) -> (n, K_here)``: each block's sum over all of its columns."""
        parts = v.new_zeros(v.shape[0], self.local_blocks).index_add_(1, self.block_of, v)
        return self.reduce(parts)

    def expand(self, s: torch.Tensor) -> torch.Tensor:
        """``(n, K_here) -> (n, d_here)``: each column gets its block's value."""
        return s.index_select(1, self.block_of)

    def start_vector(self, rows: int, dtype: torch.dtype) -> torch.Tensor:
        """A deterministic start for power iterations, a function of the global column index only.

        The same on every process layout (a stage holds some columns of it),
        unlike a random draw of the local shape.
        """
        golden = 0.6180339887498949
        u = torch.frac(self.columns.to(torch.float64) * golden + 0.5) - 0.5
        return u.to(dtype).unsqueeze(0).expand(rows, -1).contiguous()


def block_index(slices: list[slice], width: int, device: torch.device | str) -> torch.Tensor:
    """``(width,)``: the position in ``slices`` of the slice holding each column (they tile ``width``)."""
    index = torch.empty(width, dtype=torch.int64, device=device)
    for k, s in enumerate(slices):  # once per linearization, over blocks (layers), not agents
        index[s] = k
    return index
