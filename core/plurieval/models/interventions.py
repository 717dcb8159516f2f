"""Interventions: composable, serialisable edits of activations, applied through forward hooks.

An intervention says *what* to change at which named hook points; :class:`LanguageModel`
attaches it (``lm.steer(iv)`` or ``generate(..., intervention=iv)``) and removes exactly the
hooks it attached afterwards. Position selection ("prompt" / "generated") uses absolute
positions: the model tracks how many positions precede each forward chunk (the KV-cache length),
so the same tokens are steered whether the cache is on (one token per step) or off (the whole
sequence re-run each step). Counting positions inside each chunk instead, as some libraries do,
makes steering depend on the cache setting.

Artifacts are a ``tensors.safetensors`` file plus a ``card.json`` (type, parameters, and whatever
the method records: method, model, layers, data hash). Never pickle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from plurieval.errors import PluriError
from plurieval.hashing import file_hash

Positions = Literal["all", "prompt", "generated"]
_POSITIONS = ("all", "prompt", "generated")
FORMAT = "plurieval.intervention"
FORMAT_VERSION = 1


@dataclass
class ChunkState:
    """What a hook needs to know about the forward chunk being computed.

    ``offset``: positions before this chunk (KV-cache length; 0 without a cache).
    ``prompt_len``: padded prompt length of the current batch (positions ``>=`` it are generated);
    ``None`` outside generation means every position counts as prompt.
    """

    offset: int = 0
    prompt_len: int | None = None

    def position_mask(self, length: int, positions: str, device: torch.device) -> torch.Tensor | None:
        """Boolean ``[length]`` mask of the chunk's positions to edit; ``None`` means all."""
        if positions == "all":
            return None
        absolute = torch.arange(self.offset, self.offset + length, device=device)
        prompt_len = self.prompt_len if self.prompt_len is not None else self.offset + length
        return absolute < prompt_len if positions == "prompt" else absolute >= prompt_len


HookSpec = tuple[str, Callable[[torch.Tensor, ChunkState], "torch.Tensor | None"]]


@dataclass(frozen=True)
class RowEdit:
    """One edit an intervention makes, in a form that many rows of one batch can share a
    kernel for (see :mod:`plurieval.models.rows`): ``kind`` "add" (``x ← x + vector`` at
    ``positions``) or "ablate" (``x ← x − (x·vector)vector``, ``vector`` of unit norm, every
    position). The result must equal what the intervention's own hooks compute."""

    point: str
    kind: Literal["add", "ablate"]
    vector: torch.Tensor
    positions: Positions = "all"


class Intervention:
    """Base class. Subclasses implement :meth:`hook_specs` and the (de)serialisation pair."""

    type_name: ClassVar[str] = ""
    card: dict[str, Any]

    def hook_specs(self, num_layers: int) -> list[HookSpec]:
        """``(point, fn(hidden, chunk) -> new hidden or None)`` pairs to attach."""
        raise NotImplementedError

    def row_edits(self, num_layers: int) -> list[RowEdit] | None:
        """The same edits as :meth:`hook_specs`, as :class:`RowEdit` items in application order,
        so a batch whose rows carry different interventions applies them with one batched
        kernel per point. ``None`` (the default) means "not expressible": such rows run the
        intervention's own hooks on their slice of the batch, which is always correct."""
        return None

    def params(self) -> dict[str, Any]:
        raise NotImplementedError

    def tensors(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @classmethod
    def from_parts(cls, params: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Intervention:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"type": self.type_name, "params": self.params(), "card": getattr(self, "card", {})}

    def save(self, directory: str | Path, card: Mapping[str, Any] | None = None) -> Path:
        """Write ``tensors.safetensors`` + ``card.json`` into ``directory``; returns the card path.

        ``card`` adds provenance (method, model, layers, data hash); the tensor file's sha256 is
        recorded so a loaded artifact can be checked against the card.
        """
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.tensors().items()}
        save_file(tensors, str(directory / "tensors.safetensors"), metadata={"format": FORMAT})
        merged = {**getattr(self, "card", {}), **dict(card or {})}
        body = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "type": self.type_name,
            "params": self.params(),
            "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")} for k, v in tensors.items()},
            "tensors_sha256": file_hash(directory / "tensors.safetensors"),
            "card": merged,
        }
        path = directory / "card.json"
        path.write_text(json.dumps(body, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        self.card = merged
        return path


def _layers(layers: int | Iterable[int] | None, num_layers: int) -> list[int]:
    if layers is None:
        return list(range(num_layers))
    out = [layers] if isinstance(layers, int) else [int(x) for x in layers]
    for i in out:
        if not 0 <= i < num_layers:
            raise PluriError(f"intervention layer {i} out of range: the model has {num_layers} layers")
    return out


def _check_positions(positions: str) -> None:
    if positions not in _POSITIONS:
        raise PluriError(f"positions must be one of {', '.join(_POSITIONS)} (got {positions!r})")


def _masked(x: torch.Tensor, new: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return new
    return torch.where(mask.view(1, -1, *([1] * (x.dim() - 2))), new, x)


class AddVector(Intervention):
    """``x ← x + α·v`` at ``point`` of each layer in ``layers`` (CLaS-Bench DiffMean, CAA, ...).

    ``vector``: ``[d]`` (same vector at every layer) or ``[len(layers), d]`` (one per layer).
    ``positions``: "all", "prompt" (prompt tokens only) or "generated" (new tokens only).
    """

    type_name = "add_vector"

    def __init__(self, vector: torch.Tensor, layers: int | Sequence[int], alpha: float = 1.0,
                 point: str = "resid_pre", positions: Positions = "all", card: Mapping[str, Any] | None = None):
        vector = torch.as_tensor(vector).detach()
        self.layers = [layers] if isinstance(layers, int) else [int(x) for x in layers]
        if vector.dim() == 2 and vector.shape[0] != len(self.layers):
            raise PluriError(f"AddVector: {vector.shape[0]} vectors for {len(self.layers)} layers")
        if vector.dim() not in (1, 2):
            raise PluriError(f"AddVector: vector must be [d] or [layers, d] (got shape {tuple(vector.shape)})")
        if point not in ("resid_pre", "resid_post", "attn_out", "mlp_out"):
            raise PluriError(f"AddVector: point must be resid_pre, resid_post, attn_out or mlp_out (got {point!r})")
        _check_positions(positions)
        self.vector, self.alpha, self.point, self.positions = vector, float(alpha), point, positions
        self.card = dict(card or {})

    def _deltas(self, num_layers: int) -> list[tuple[str, torch.Tensor]]:
        out = []
        for k, layer in enumerate(_layers(self.layers, num_layers)):
            v = self.vector if self.vector.dim() == 1 else self.vector[k]
            out.append((f"blocks.{layer}.{self.point}", v * self.alpha))
        return out

    def hook_specs(self, num_layers: int) -> list[HookSpec]:
        return [(point, self._hook(delta)) for point, delta in self._deltas(num_layers)]

    def row_edits(self, num_layers: int) -> list[RowEdit]:
        return [RowEdit(point, "add", delta, self.positions) for point, delta in self._deltas(num_layers)]

    def _hook(self, delta: torch.Tensor) -> Callable[[torch.Tensor, ChunkState], torch.Tensor]:
        cache: dict[tuple, torch.Tensor] = {}

        def fn(x: torch.Tensor, chunk: ChunkState) -> torch.Tensor:
            key = (x.dtype, x.device)
            if key not in cache:  # convert once, not at every decoding step
                cache[key] = delta.to(device=x.device, dtype=x.dtype)
            return _masked(x, x + cache[key], chunk.position_mask(x.shape[1], self.positions, x.device))

        return fn

    def params(self) -> dict[str, Any]:
        return {"layers": self.layers, "alpha": self.alpha, "point": self.point, "positions": self.positions}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"vector": self.vector}

    @classmethod
    def from_parts(cls, params: dict[str, Any], tensors: dict[str, torch.Tensor]) -> AddVector:
        return cls(tensors["vector"], **params)


class DirectionalAblation(Intervention):
    """``x ← x − (x·r̂)r̂`` at every layer's resid_pre, attn_out and mlp_out (Arditi et al. 2024,
    "Refusal in language models is mediated by a single direction"). Ablating what every
    sub-layer writes, not only the layer input, keeps the direction out of the residual stream
    at every point. ``points``: "all" or a subset of those three; ``layers``: None = all."""

    type_name = "directional_ablation"
    _ALL = ("resid_pre", "attn_out", "mlp_out")

    def __init__(self, direction: torch.Tensor, points: str | Sequence[str] = "all",
                 layers: Sequence[int] | None = None, card: Mapping[str, Any] | None = None):
        direction = torch.as_tensor(direction).detach().float()
        if direction.dim() != 1:
            raise PluriError(f"DirectionalAblation: direction must be a [d] vector (got {tuple(direction.shape)})")
        norm = direction.norm()
        if not torch.isfinite(norm) or norm == 0:
            raise PluriError("DirectionalAblation: direction has zero or non-finite norm")
        # An already-unit vector (e.g. one loaded from an artifact) is kept bit-for-bit.
        self.direction = direction if abs(float(norm) - 1.0) < 1e-6 else direction / norm
        self.points = list(self._ALL) if points == "all" else [points] if isinstance(points, str) else list(points)
        bad = set(self.points) - {"resid_pre", "resid_post", "attn_out", "mlp_out"}
        if bad:
            raise PluriError(f"DirectionalAblation: unknown points {sorted(bad)}")
        self.layers = None if layers is None else [int(x) for x in layers]
        self.card = dict(card or {})

    def hook_specs(self, num_layers: int) -> list[HookSpec]:
        cache: dict[tuple, torch.Tensor] = {}

        def fn(x: torch.Tensor, _chunk: ChunkState) -> torch.Tensor:
            key = (x.dtype, x.device)
            if key not in cache:
                cache[key] = self.direction.to(device=x.device, dtype=x.dtype)
            r = cache[key]
            return x - (x @ r).unsqueeze(-1) * r

        return [(f"blocks.{i}.{p}", fn) for i in _layers(self.layers, num_layers) for p in self.points]

    def row_edits(self, num_layers: int) -> list[RowEdit]:
        return [RowEdit(f"blocks.{i}.{p}", "ablate", self.direction)
                for i in _layers(self.layers, num_layers) for p in self.points]

    def params(self) -> dict[str, Any]:
        return {"points": self.points, "layers": self.layers}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"direction": self.direction}

    @classmethod
    def from_parts(cls, params: dict[str, Any], tensors: dict[str, torch.Tensor]) -> DirectionalAblation:
        return cls(tensors["direction"], **params)


class NeuronIntervention(Intervention):
    """Set or scale MLP neurons (``mlp_act``: the input of the down projection), e.g. LAPE
    language-specific neurons (Tang et al. 2024) set to their mean activation, or zeroed.

    ``neurons``: ``{layer: index tensor}``. ``values``: None (zero them unless ``scale`` is
    given), a number, or ``{layer: tensor}`` with one value per index. ``scale``: multiply the
    selected activations instead (applied after ``values`` when both are given).
    """

    type_name = "neuron"

    def __init__(self, neurons: Mapping[int, Any], values: float | Mapping[int, Any] | torch.Tensor | None = None,
                 scale: float | None = None, positions: Positions = "all", card: Mapping[str, Any] | None = None):
        self.neurons = {int(k): torch.as_tensor(v, dtype=torch.long).flatten() for k, v in neurons.items()}
        if isinstance(values, Mapping):
            self.values: dict[int, torch.Tensor] | None = {int(k): torch.as_tensor(v).float().flatten()
                                                            for k, v in values.items()}
            for k, idx in self.neurons.items():
                if k not in self.values or self.values[k].numel() not in (1, idx.numel()):
                    raise PluriError(f"NeuronIntervention: layer {k} needs 1 or {idx.numel()} values")
        elif values is None:
            self.values = None if scale is not None else {k: torch.zeros(1) for k in self.neurons}
        else:
            v = torch.as_tensor(values).float().flatten()
            self.values = {k: v for k in self.neurons}
        self.scale = None if scale is None else float(scale)
        _check_positions(positions)
        self.positions = positions
        self.card = dict(card or {})

    def hook_specs(self, num_layers: int) -> list[HookSpec]:
        specs = []
        for layer in _layers(sorted(self.neurons), num_layers):
            idx = self.neurons[layer]
            values = None if self.values is None else self.values[layer]
            specs.append((f"blocks.{layer}.mlp_act", self._hook(idx, values)))
        return specs

    def _hook(self, idx: torch.Tensor, values: torch.Tensor | None) -> Callable[[torch.Tensor, ChunkState], torch.Tensor]:
        scale = self.scale

        def fn(x: torch.Tensor, chunk: ChunkState) -> torch.Tensor:
            i = idx.to(x.device)
            sel = x[..., i]
            new_sel = sel if values is None else values.to(device=x.device, dtype=x.dtype).expand_as(sel)
            if scale is not None:
                new_sel = new_sel * scale
            mask = chunk.position_mask(x.shape[1], self.positions, x.device)
            if mask is not None:
                new_sel = torch.where(mask.view(1, -1, 1), new_sel, sel)
            out = x.clone()
            out[..., i] = new_sel
            return out

        return fn

    def params(self) -> dict[str, Any]:
        return {"layers": sorted(self.neurons), "scale": self.scale, "positions": self.positions,
                "has_values": self.values is not None}

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {f"neurons.{k}": v for k, v in self.neurons.items()}
        if self.values is not None:
            out.update({f"values.{k}": v for k, v in self.values.items()})
        return out

    @classmethod
    def from_parts(cls, params: dict[str, Any], tensors: dict[str, torch.Tensor]) -> NeuronIntervention:
        layers = params["layers"]
        values = {k: tensors[f"values.{k}"] for k in layers} if params.get("has_values") else None
        return cls({k: tensors[f"neurons.{k}"] for k in layers}, values=values, scale=params.get("scale"),
                   positions=params.get("positions", "all"))


class Compose(Intervention):
    """Several interventions at once, applied in list order at shared points."""

    type_name = "compose"

    def __init__(self, parts: Sequence[Intervention], card: Mapping[str, Any] | None = None):
        self.parts = list(parts)
        for p in self.parts:
            if not isinstance(p, Intervention):
                raise PluriError(f"Compose: {p!r} is not an Intervention")
        self.card = dict(card or {})

    def hook_specs(self, num_layers: int) -> list[HookSpec]:
        return [spec for p in self.parts for spec in p.hook_specs(num_layers)]

    def row_edits(self, num_layers: int) -> list[RowEdit] | None:
        edits: list[RowEdit] = []
        for p in self.parts:
            part = p.row_edits(num_layers)
            if part is None:
                return None
            edits += part
        return edits

    def params(self) -> dict[str, Any]:
        return {"parts": [{"type": p.type_name, "params": p.params(), "card": p.card} for p in self.parts]}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"{i}.{k}": v for i, p in enumerate(self.parts) for k, v in p.tensors().items()}

    @classmethod
    def from_parts(cls, params: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Compose:
        parts = []
        for i, part in enumerate(params["parts"]):
            sub = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.split(".", 1)[0] == str(i)}
            obj = TYPES[part["type"]].from_parts(part["params"], sub)
            obj.card = dict(part.get("card") or {})
            parts.append(obj)
        return cls(parts)


TYPES: dict[str, type[Intervention]] = {
    c.type_name: c for c in (AddVector, DirectionalAblation, NeuronIntervention, Compose)
}


def load_intervention(directory: str | Path, *, verify: bool = True) -> Intervention:
    """Load an artifact written by :meth:`Intervention.save` (checks the tensor file's hash)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    card_path = directory / "card.json"
    if not card_path.is_file():
        raise PluriError(f"{directory}: no card.json; not an intervention artifact (write one with iv.save(dir))")
    body = json.loads(card_path.read_text(encoding="utf-8"))
    if body.get("format") != FORMAT:
        raise PluriError(f"{card_path}: format {body.get('format')!r} is not {FORMAT!r}")
    if body.get("type") not in TYPES:
        raise PluriError(f"{card_path}: unknown intervention type {body.get('type')!r} (known: {', '.join(TYPES)})")
    tensor_path = directory / "tensors.safetensors"
    if verify and body.get("tensors_sha256") and file_hash(tensor_path) != body["tensors_sha256"]:
        raise PluriError(f"{tensor_path}: contents do not match the hash in card.json (file changed or corrupt)")
    obj = TYPES[body["type"]].from_parts(body["params"], load_file(str(tensor_path)))
    obj.card = dict(body.get("card") or {})
    return obj


__all__ = [
    "AddVector",
    "ChunkState",
    "Compose",
    "DirectionalAblation",
    "Intervention",
    "NeuronIntervention",
    "RowEdit",
    "load_intervention",
]
