"""Per-row interventions: one batch in which every row carries its own setting.

A steering sweep (layers × strengths × prompts) or a screen of candidate refusal directions is
many settings applied to the same few prompts. One call per setting keeps a CPU mostly idle at
small batches; :class:`RowInterventions` lets one forward pass carry a different intervention
in each row (or none), so the whole grid fills a few large batches.

How a row's edits are applied, at every hook point the batch touches:

* interventions that can say what they do as :class:`~plurieval.models.interventions.RowEdit`
  items (``AddVector``, ``DirectionalAblation``, ``Compose`` of those) are stacked into one
  ``[rows, d]`` tensor per edit slot, so an add is ``x + D[rows]`` (zero for rows without it)
  and an ablation one batched matrix product, whatever the number of settings;
* any other intervention (``NeuronIntervention``, third-party ones) runs its own hooks on its
  rows' slice of the batch (``x[idx]``), which is correct for any hook that treats rows
  independently, as every edit of activations does.

Rows are independent in a causal LM, so row *i* of a mixed batch computes what the same
prompt computes with its setting alone (tested token for token on every supported
architecture, cache on and off). :meth:`RowInterventions.select` keeps the row map in step
when the decoding loop drops finished rows from the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from plurieval.errors import PluriError
from plurieval.models.interventions import ChunkState, Intervention, RowEdit


@dataclass
class _Slot:
    """The ``k``-th edit of every row at one point (a row has at most one edit per slot)."""

    adds: dict[str, dict[int, torch.Tensor]] = field(default_factory=dict)  # positions → {row: delta}
    ablations: dict[int, torch.Tensor] = field(default_factory=dict)  # row → unit direction
    _dense: dict[tuple, Any] = field(default_factory=dict)

    def dense(self, n: int, d: int, dtype: torch.dtype, device: torch.device) -> tuple[dict[str, torch.Tensor], Any]:
        """``({positions: [n, d]}, (R [n, d], has [n]) or None)`` in the activations' dtype."""
        key = (dtype, device)
        if key not in self._dense:
            adds = {}
            for positions, rows in self.adds.items():
                mat = torch.zeros(n, d, dtype=dtype, device=device)
                for r, v in rows.items():
                    mat[r] = v.to(device=device, dtype=dtype)
                adds[positions] = mat
            abl = None
            if self.ablations:
                mat = torch.zeros(n, d, dtype=dtype, device=device)
                has = torch.zeros(n, dtype=torch.bool, device=device)
                for r, v in self.ablations.items():
                    mat[r] = v.to(device=device, dtype=dtype)
                    has[r] = True
                abl = (mat, has)
            self._dense[key] = (adds, abl)
        return self._dense[key]


class RowInterventions:
    """Interventions for the rows of one batch (``None`` = a plain row).

    ``points()`` are the hook points to attach; ``apply(point, x, chunk)`` edits the batch's
    activations there. ``active`` maps the batch's current rows to the original ones.
    """

    def __init__(self, interventions: Sequence[Intervention | None], num_layers: int):
        self.n = len(interventions)
        self.active = torch.arange(self.n)
        self._version = 0
        self._slots: dict[str, list[_Slot]] = {}
        # point → [(hook fn, membership mask over the original rows)]
        self._groups: dict[str, list[tuple[Callable[..., Any], torch.Tensor]]] = {}
        self._index_cache: dict[tuple, torch.Tensor] = {}
        rows_of: dict[int, list[int]] = {}
        objects: dict[int, Intervention] = {}
        for r, iv in enumerate(interventions):
            if iv is None:
                continue
            if not isinstance(iv, Intervention):
                raise PluriError(f"row {r}: expected an Intervention (AddVector, DirectionalAblation, ...) or None, "
                                 f"got {type(iv).__name__}")
            rows_of.setdefault(id(iv), []).append(r)
            objects[id(iv)] = iv
        for key, rows in rows_of.items():
            iv = objects[key]
            edits = iv.row_edits(num_layers)
            if edits is not None:
                self._add_edits(edits, rows)
                continue
            member = torch.zeros(self.n, dtype=torch.bool)
            member[rows] = True
            for point, fn in iv.hook_specs(num_layers):
                self._groups.setdefault(point, []).append((fn, member))

    def _add_edits(self, edits: list[RowEdit], rows: list[int]) -> None:
        used: dict[str, int] = {}
        for e in edits:
            k = used.get(e.point, 0)
            used[e.point] = k + 1
            slots = self._slots.setdefault(e.point, [])
            while len(slots) <= k:
                slots.append(_Slot())
            slot = slots[k]
            for r in rows:
                if e.kind == "add":
                    slot.adds.setdefault(e.positions, {})[r] = e.vector
                elif e.kind == "ablate":
                    slot.ablations[r] = e.vector
                else:
                    raise PluriError(f"unknown row edit kind {e.kind!r} (add or ablate)")

    # --- the batch's rows ------------------------------------------------------------------

    def points(self) -> list[str]:
        return list(dict.fromkeys([*self._slots, *self._groups]))

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the batch rows ``keep`` (indices into the current batch), in that order."""
        self.active = self.active[keep.to(self.active.device)]
        self._version += 1
        self._index_cache.clear()

    def _gather(self, key: Any, full: torch.Tensor) -> torch.Tensor:
        """``full[active]``, cached until the active rows change."""
        cache_key = (key, full.device, full.dtype)
        got = self._index_cache.get(cache_key)
        if got is None:
            got = full[self.active.to(full.device)]
            self._index_cache[cache_key] = got
        return got

    # --- the edit ----------------------------------------------------------------------------

    def apply(self, point: str, x: torch.Tensor, chunk: ChunkState) -> torch.Tensor | None:
        if x.shape[0] != self.active.numel():
            raise PluriError(f"{point}: batch has {x.shape[0]} rows but {self.active.numel()} row settings are active")
        out = x
        for k, slot in enumerate(self._slots.get(point, ())):
            adds, abl = slot.dense(self.n, x.shape[-1], x.dtype, x.device)
            for positions, full in adds.items():
                delta = self._gather((point, k, positions), full).unsqueeze(1)
                mask = chunk.position_mask(x.shape[1], positions, x.device)
                out = out + delta if mask is None else torch.where(mask.view(1, -1, 1), out + delta, out)
            if abl is not None:
                r = self._gather((point, k, "ablate"), abl[0])
                has = self._gather((point, k, "has"), abl[1])
                new = out - torch.matmul(out, r.unsqueeze(-1)) * r.unsqueeze(1)
                # rows without this ablation keep their exact values (no 0·x that could be NaN)
                out = new if bool(has.all()) else torch.where(has.view(-1, 1, 1), new, out)
        for g, (fn, member) in enumerate(self._groups.get(point, ())):
            idx = self._gather((point, "group", g), member).nonzero().flatten().to(x.device)
            if idx.numel() == 0:
                continue
            if idx.numel() == out.shape[0]:
                new = fn(out, chunk)
                out = out if new is None else new
                continue
            new = fn(out.index_select(0, idx), chunk)
            if new is not None:
                out = out.index_copy(0, idx, new)
        return None if out is x else out


__all__ = ["RowInterventions"]
