"""LanguageModel: one Hugging Face causal LM behind the small API every method and benchmark uses.

Design choices (each one fixes a trap seen in peer libraries):

* Prompts are left-padded by hand and every plain forward pass gets explicit ``position_ids``
  computed from the attention mask, so a padded row sees the same positions as when it runs
  alone. During generation transformers derives them from the mask at every step.
* Interventions and extraction attach hooks and remove exactly the handles they attached, never
  ``module._forward_hooks.clear()``, so hooks installed by other code survive.
* A pre-hook on the model records the KV-cache length before each forward chunk; interventions
  use it to select prompt/generated positions by *absolute* position (cache on == cache off).
* :meth:`extract` raises a private exception once the deepest requested point has been captured
  and catches it, so layers after it are never computed (vs ``output_hidden_states``, which runs
  the whole model and, for the last entry, returns the state *after* the final norm).
* Every call takes either one ``intervention`` for all rows or ``interventions``, one per row
  (``None`` = plain), so a whole sweep grid or a screen of candidate directions runs as a few
  large batches (:mod:`plurieval.models.rows`); :meth:`generate` drops finished rows from the
  batch (:mod:`plurieval.models.decoding`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from plurieval.errors import PluriError
from plurieval.models.bf16 import matmul_of
from plurieval.models.hooks import (
    ArchLayout,
    attach,
    detect_layout,
    layer_modules,
    parse_point,
    point_module,
    point_order,
)
from plurieval.models.interventions import ChunkState, Intervention
from plurieval.models.lanes import hook_count, lanes_for, run_in_lanes, share_weights
from plurieval.models.rows import RowInterventions

# The batch-size policy (see docs/speed.md for the measurements behind both numbers). It is a
# function of the model's shape and the call's sequence lengths only, never of the machine, so
# a run's batches (and with them the last bits of every number) are the same on any computer.
DEFAULT_BATCH_ROWS = 64
"""Rows per batch when the memory bound allows: throughput on the default model flattens out
between 32 and 64 rows on 2 CPU cores, float32 and bfloat16 alike."""
BATCH_MEMORY_BYTES = 2**30
"""Budget for the per-position state (KV cache + working activations) of the batches in flight
(one per decoding lane), which bounds the rows of long prompts and of larger models:
lanes × rows × positions × bytes per position ≤ this. 1 GiB keeps two lanes of the default
model at 64 rows for CLaS-Bench's prompts (~90 positions); 768 MiB cut them to 57, and the
plan then to 4 batches of 30 rows, 18 % slower."""


@dataclass
class Generation:
    """One generated continuation: ``text`` (decoded new tokens, special tokens dropped),
    ``token_ids`` (new tokens up to and including EOS), the original ``prompt`` and the exact
    ``formatted_prompt`` fed to the model (after the chat template)."""

    prompt: str
    text: str
    token_ids: list[int]
    formatted_prompt: str = ""
    finish_reason: str = "length"
    metadata: dict[str, Any] = field(default_factory=dict)


MIN_SHARED_PREFIX = 8
"""Shortest common prompt prefix worth computing once per setting (a chat template's system
turn is 20-30 tokens)."""


@dataclass(frozen=True)
class SharedPrefix:
    """The leading ``tokens`` every row of a batch has in common, the batch's distinct
    ``settings`` and the setting of each row (``owner[row]``, an index into ``settings``)."""

    tokens: list[int]
    settings: list[Any]
    owner: list[int]


class _StopForward(Exception):
    """Raised by an extraction hook once every requested point is captured (caught in extract)."""



def _chunk_offset(args: tuple, kwargs: dict) -> int:
    """Positions before the forward chunk about to run (0 without a KV cache).

    The cache travels as ``past_key_values`` up to transformers 5.23 and as ``cache`` from 5.24;
    when neither is there (or it is empty), an attention mask longer than the chunk still tells
    how many positions came before it.
    """
    for name in ("cache", "past_key_values"):
        cache = kwargs.get(name)
        if cache is not None and hasattr(cache, "get_seq_length"):
            return int(cache.get_seq_length())
    ids = kwargs.get("input_ids", args[0] if args else None)
    if ids is None:
        ids = kwargs.get("inputs_embeds")
    mask = kwargs.get("attention_mask")
    if isinstance(ids, torch.Tensor) and isinstance(mask, torch.Tensor) and mask.dim() == 2:
        return max(int(mask.shape[-1]) - int(ids.shape[1]), 0)
    return 0

Interventions = Sequence["Intervention | None"]
Progress = Callable[[int], Any]


def _batches(seqs: Sequence[Sequence[int]], size: int) -> Iterator[list[int]]:
    """Row indices per batch. When the rows need several batches, longest first: rows of
    similar length share a batch, so little is spent on padding (a row's result does not
    depend on its batch); one batch keeps the given order."""
    size = max(1, int(size))
    order = list(range(len(seqs)))
    if len(order) > size:
        order.sort(key=lambda i: -len(seqs[i]))
    for start in range(0, len(order), size):
        yield order[start:start + size]


def _split_for_lanes(n: int, size: int, lanes: int) -> int:
    """Rows per batch so that ``n`` rows fill a multiple of ``lanes`` batches of at most
    ``size`` rows (90 rows, 64 per batch, 2 lanes: 2 × 45, not 64 + 26 with one lane idle)."""
    if lanes <= 1 or n <= 1:
        return size
    batches = -(-n // max(1, size))
    batches = -(-batches // lanes) * lanes
    return max(1, -(-n // batches))


def _pick(items: Sequence[Any], idx: list[int]) -> list[Any]:
    return [items[i] for i in idx]


class LanguageModel:
    """A causal LM with named hook points, batched generation, extraction and steering.

    Build one with :func:`plurieval.models.load_hf`, :func:`plurieval.models.load_default` or
    :func:`plurieval.models.testing.tiny_model`. ``hf`` is the transformers model, ``tokenizer``
    its tokenizer (padding side is forced to left).
    """

    def __init__(self, hf: torch.nn.Module, tokenizer: Any, *, name: str, revision: str | None = None,
                 weights_hash: str | None = None, quantization: str = "none", source: str | None = None,
                 num_parameters: int | None = None, dtype: torch.dtype | None = None) -> None:
        self.hf = hf.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.revision = revision
        self.weights_hash = weights_hash
        self.quantization = quantization
        self.source = source or name
        self.layout: ArchLayout = detect_layout(hf)
        self._layers = layer_modules(hf, self.layout)
        self._num_parameters = num_parameters or sum(p.numel() for p in hf.parameters())
        self._dtype = dtype or next(hf.parameters()).dtype
        self._chunk = ChunkState()
        self._steer_depth = 0
        self._tracker: Any = None
        self._replicas: list[LanguageModel] = []
        self._replica_key: Any = None
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.pad_token_id = int(tokenizer.pad_token_id)
        eos = getattr(hf.generation_config, "eos_token_id", None) if getattr(hf, "generation_config", None) else None
        eos = eos if eos is not None else tokenizer.eos_token_id
        self.eos_token_ids: list[int] = [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]) if e is not None]

    # --- facts ----------------------------------------------------------------------------------

    @property
    def num_layers(self) -> int:
        return len(self._layers)

    @property
    def decoder_layers(self) -> list[torch.nn.Module]:
        """The decoder layers, in order (``blocks.{i}`` hook points live in layer i)."""
        return list(self._layers)

    @property
    def hidden_size(self) -> int:
        return int(self.hf.config.hidden_size)

    @property
    def d_mlp(self) -> int:
        cfg = self.hf.config
        for key in ("intermediate_size", "n_inner"):
            value = getattr(cfg, key, None)
            if value:
                return int(value)
        return 4 * self.hidden_size

    @property
    def device(self) -> torch.device:
        return next(self.hf.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    def points(self) -> list[str]:
        """Every hook point name of this model."""
        subs = ("resid_pre", "attn_out", "mlp_act", "mlp_out", "resid_post")
        return [f"blocks.{i}.{s}" for i in range(self.num_layers) for s in subs]

    def describe(self) -> dict[str, Any]:
        """What a run manifest records about the model (enough to know the weights were the same)."""
        return {
            "id": self.name,
            "source": self.source,
            "revision": self.revision,
            "weights_hash": self.weights_hash,
            "architecture": type(self.hf).__name__,
            "model_type": getattr(self.hf.config, "model_type", None),
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "quantization": self.quantization,
            **({"matmul": matmul} if (matmul := matmul_of(self.hf)) else {}),
            "num_parameters": int(self._num_parameters),
            "num_layers": self.num_layers,
            "hidden_size": self.hidden_size,
        }

    def __repr__(self) -> str:
        return f"LanguageModel({self.name!r}, layers={self.num_layers}, d={self.hidden_size}, quantization={self.quantization})"

    # --- prompts and tokens ---------------------------------------------------------------------

    def format_prompt(self, prompt: str, *, chat: bool = True, system: str | None = None) -> str:
        """The text fed to the model: the chat template (with generation prompt) when ``chat`` and
        the tokenizer has one, else the prompt itself (``system`` prepended as a paragraph)."""
        if chat and getattr(self.tokenizer, "chat_template", None):
            messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return f"{system}\n\n{prompt}" if system else prompt

    def _encode_one(self, text: str, *, special: bool) -> list[int]:
        ids = list(self.tokenizer(text, add_special_tokens=special)["input_ids"])
        # T5-style tokenizers (ByT5) append EOS as a "special token": a prompt must not end the text.
        if special and ids and ids[-1] in self.eos_token_ids and not text.endswith(self.tokenizer.eos_token or "\0"):
            ids = ids[:-1]
        return ids

    def encode(self, prompts: Sequence[str], *, chat: bool = True, system: str | None = None) -> list[list[int]]:
        """Token ids of each formatted prompt (chat-templated text already carries its BOS)."""
        templated = chat and bool(getattr(self.tokenizer, "chat_template", None))
        return [self._encode_one(self.format_prompt(p, chat=chat, system=system), special=not templated)
                for p in prompts]

    def pad_left(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-pad token sequences to the longest → ``input_ids``, ``attention_mask`` on the model
        device (the layout every last-position read assumes)."""
        if any(len(s) == 0 for s in seqs):
            raise PluriError("empty prompt: every prompt needs at least one token")
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, width - len(s):] = torch.tensor(list(s), dtype=torch.long)
            mask[i, width - len(s):] = 1
        return ids.to(self.device), mask.to(self.device)

    @staticmethod
    def _position_ids(mask: torch.Tensor) -> torch.Tensor:
        return (mask.cumsum(-1) - 1).clamp(min=0)

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, cache: Any = None, **kw: Any) -> Any:
        """The model on ``ids``; ``mask`` covers the positions ``cache`` already holds too."""
        if cache is None:
            return self.hf(input_ids=ids, attention_mask=mask, position_ids=self._position_ids(mask), use_cache=False, **kw)
        from plurieval.models.decoding import _cache_kwarg

        return self.hf(input_ids=ids, attention_mask=mask, position_ids=self._position_ids(mask)[:, -ids.shape[1]:],
                       use_cache=True, **{_cache_kwarg(self.hf): cache}, **kw)

    # --- hooks ----------------------------------------------------------------------------------

    def _attach_point(self, point: str, fn: Any) -> Any:
        layer, sub = parse_point(point, self.num_layers)
        module, mode = point_module(self._layers[layer], self.layout, sub)
        return attach(module, mode, fn)

    def _track_chunks(self) -> Any:
        """Pre-hook on the whole model: record how many positions precede this forward chunk."""
        chunk = self._chunk

        def pre(_mod: Any, args: tuple, kwargs: dict) -> None:
            chunk.offset = _chunk_offset(args, kwargs)

        return self.hf.register_forward_pre_hook(pre, with_kwargs=True)

    @contextlib.contextmanager
    def steer(self, intervention: Intervention | None) -> Iterator[LanguageModel]:
        """Apply ``intervention`` inside the block; on exit exactly its hooks are removed."""
        if intervention is None:
            yield self
            return
        if not isinstance(intervention, Intervention):
            raise PluriError(f"steer() needs an Intervention (AddVector, DirectionalAblation, ...), got {type(intervention).__name__}")
        with self._hooks((point, self._bind(fn)) for point, fn in intervention.hook_specs(self.num_layers)):
            yield self

    @contextlib.contextmanager
    def _hooks(self, hooks: Iterable[tuple[Any, Any]]) -> Iterator[None]:
        """Attach ``(point, fn)`` hooks for the block and remove exactly them on exit; the chunk
        tracker (prompt offsets for hooks that need them) lives while any steering block is open."""
        handles = []
        if self._steer_depth == 0:
            self._tracker = self._track_chunks()
        self._steer_depth += 1
        try:
            for point, fn in hooks:
                handles.append(self._attach_point(point, fn))
            yield
        finally:
            for h in handles:
                h.remove()
            self._steer_depth -= 1
            if self._steer_depth == 0 and self._tracker is not None:
                self._tracker.remove()
                self._tracker = None

    def _bind(self, fn: Any) -> Any:
        chunk = self._chunk
        return lambda x: fn(x, chunk)

    @contextlib.contextmanager
    def _prompt_len(self, n: int | None) -> Iterator[None]:
        old = self._chunk.prompt_len
        self._chunk.prompt_len = n
        self._chunk.offset = 0
        try:
            yield
        finally:
            self._chunk.prompt_len = old

    # --- one setting per row --------------------------------------------------------------------

    def _per_row(self, n: int, intervention: Intervention | None,
                 interventions: Interventions | None) -> list[Intervention | None]:
        """The intervention of each of ``n`` rows, from either argument (never both)."""
        if interventions is None:
            return [intervention] * n
        if intervention is not None:
            raise PluriError("pass either intervention= (one for every row) or interventions= (one per row), not both")
        if isinstance(interventions, Intervention):
            raise PluriError("interventions= takes one intervention (or None) per prompt; for one intervention "
                             "on every prompt use intervention=")
        per_row = list(interventions)
        if len(per_row) != n:
            raise PluriError(f"interventions= has {len(per_row)} entries for {n} prompts (one per prompt; None = plain)")
        return per_row

    @contextlib.contextmanager
    def _steer_rows(self, per_row: Sequence[Intervention | None]) -> Iterator[RowInterventions | None]:
        """Attach the rows' interventions for one batch; yields the row map to keep in step when
        rows are dropped (``None`` when every row shares one setting: then it is plain hooks)."""
        first = per_row[0] if per_row else None
        if all(iv is first for iv in per_row):
            with self.steer(first):
                yield None
            return
        rows = RowInterventions(per_row, self.num_layers)
        chunk = self._chunk
        with self._hooks((point, lambda x, p=point: rows.apply(p, x, chunk)) for point in rows.points()):
            yield rows

    # --- decoding lanes ---------------------------------------------------------------------------

    def lane_models(self, lanes: int) -> list[LanguageModel]:
        """This model and ``lanes - 1`` weight-sharing replicas (:mod:`plurieval.models.lanes`),
        made once and reused while the weights are the same tensors. Just this model while a
        ``steer`` block or any other forward hook is attached to it (a replica would not carry
        it), or while it trains."""
        if lanes <= 1 or self._steer_depth or self.hf.training or hook_count(self.hf):
            return [self]
        key = tuple(id(t) for t in self.hf.parameters()) + tuple(id(t) for t in self.hf.buffers())
        if key != self._replica_key:
            self._replicas, self._replica_key = [], key
        while len(self._replicas) < lanes - 1:
            self._replicas.append(LanguageModel(
                share_weights(self.hf), self.tokenizer, name=self.name, revision=self.revision,
                weights_hash=self.weights_hash, quantization=self.quantization, source=self.source,
                num_parameters=self._num_parameters, dtype=self._dtype))
        return [self, *self._replicas[:lanes - 1]]

    @property
    def rows_independent(self) -> bool:
        """Whether a row's result is independent of the other rows of its batch, so that batches
        may be cut and prefixes shared freely. Not under dynamic int8 quantisation (each
        Linear quantises its whole input with one scale) nor other quantised weights, whose
        kernels are not checked for it: their batches stay exactly as planned."""
        return self.quantization == "none"

    # --- shared prompt prefixes --------------------------------------------------------------------

    def _shared_prefix(self, seqs: Sequence[Sequence[int]],
                       per_row: Sequence[Intervention | None]) -> SharedPrefix | None:
        """``(prefix tokens, settings, setting of each row)`` when the rows' prompts share at
        least :data:`MIN_SHARED_PREFIX` leading tokens and fewer settings than rows are in the
        batch (the prefix is then computed once per setting); ``None`` otherwise, and always
        for a model whose rows depend on their batch (:attr:`rows_independent`). Every row
        keeps at least one token of its own, so each row's first logits come from its own
        forward pass."""
        if len(seqs) < 2 or not self.rows_independent:
            return None
        first, shortest = seqs[0], min(len(s) for s in seqs)
        n = 0
        while n < shortest - 1 and all(s[n] == first[n] for s in seqs):
            n += 1
        if n < MIN_SHARED_PREFIX:
            return None
        index: dict[int, int] = {}
        settings: list[Intervention | None] = []
        owner = []
        for iv in per_row:
            if id(iv) not in index:
                index[id(iv)] = len(settings)
                settings.append(iv)
            owner.append(index[id(iv)])
        if len(settings) == len(seqs):
            return None
        return SharedPrefix(list(first[:n]), settings, owner)

    def _pad_rows(self, seqs: Sequence[Sequence[int]], shared: SharedPrefix | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``pad_left`` of the rows, without their shared prefix if there is one; the mask then
        covers the prefix too (it sits before each row's padding, in the KV cache)."""
        plen = len(shared.tokens) if shared is not None else 0
        ids, mask = self.pad_left([s[plen:] for s in seqs])
        if plen:
            mask = torch.cat([mask.new_ones(mask.shape[0], plen), mask], dim=-1)
        return ids, mask

    def _prefill_prefix(self, shared: SharedPrefix, capacity: int) -> Any:
        """The KV cache of the shared prefix under each setting, one row per batch row, with
        room for ``capacity`` positions per row. Runs inside the batch's ``_prompt_len`` (the
        prefix is prompt), with each setting's own hooks, as the rows' full prompts would."""
        from plurieval.models import decoding

        ids = torch.tensor([shared.tokens] * len(shared.settings), device=self.device)
        cache = decoding.new_cache(self.hf, capacity=capacity if decoding.PREALLOCATED_KV else None)
        with self._steer_rows(shared.settings):
            self._forward(ids, torch.ones_like(ids), cache, logits_to_keep=1)
        cache.batch_select_indices(torch.tensor(shared.owner, device=self.device))
        return cache

    # --- batch size -------------------------------------------------------------------------------

    def bytes_per_position(self) -> int:
        """Memory one (row, position) of a batch holds: the KV cache entry of every layer plus
        the working activations of one layer (residual, attention, MLP), in the model's dtype."""
        cfg = self.hf.config
        heads = int(getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head", 1))
        kv_heads = int(getattr(cfg, "num_key_value_heads", None) or heads)
        head_dim = int(getattr(cfg, "head_dim", None) or self.hidden_size // heads)
        kv = 2 * self.num_layers * kv_heads * head_dim
        working = 6 * self.hidden_size + 3 * self.d_mlp
        return (kv + working) * torch.empty((), dtype=self.dtype).element_size()

    def batch_rows(self, positions: int, lanes: int = 1) -> int:
        """Rows per batch for sequences of ``positions`` tokens (prompt + new tokens):
        :data:`DEFAULT_BATCH_ROWS`, fewer when rows × positions × :meth:`bytes_per_position`
        would exceed :data:`BATCH_MEMORY_BYTES` (shared by ``lanes`` batches in flight).
        Depends on the model, the lengths and the lanes only."""
        bound = BATCH_MEMORY_BYTES // max(1, int(lanes) * int(positions) * self.bytes_per_position())
        return int(max(1, min(DEFAULT_BATCH_ROWS, bound)))

    def _batch_size(self, batch_size: int | None, encoded: Sequence[Sequence[int]], new_tokens: int = 0,
                    lanes: int = 1) -> int:
        if batch_size is not None:
            if int(batch_size) < 1:
                raise PluriError(f"batch_size must be at least 1 (got {batch_size}); None chooses it")
            return int(batch_size)
        longest = max((len(e) for e in encoded), default=1)
        return self.batch_rows(longest + int(new_tokens), lanes)

    # --- generation -----------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], *, max_new_tokens: int = 64, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0, seed: int | None = None,
                 batch_size: int | None = None, chat: bool = True, system: str | None = None,
                 intervention: Intervention | None = None, use_cache: bool = True,
                 interventions: Interventions | None = None, progress: Progress | None = None,
                 lanes: int | None = None, share_prefix: bool = True) -> list[Generation]:
        """Batched, left-padded generation; greedy unless ``do_sample``.

        ``intervention`` is applied to every row; ``interventions`` gives one per prompt
        (``None`` = plain), so many settings share each batch and every row computes what its
        setting computes alone. Rows stop costing compute once they produce EOS.
        ``batch_size=None`` chooses it (:meth:`batch_rows`). Sampling: each row draws from its
        own generator seeded by ``(seed, k)`` for the k-th row of its setting, so samples do
        not depend on batch size or neighbours; without ``seed`` the global RNG picks the seeds.
        The global RNG is left untouched when ``seed`` is given. ``progress(n)`` is called after
        each batch with the number of rows it finished (e.g. ``RunProgress.advance``).
        ``lanes`` batches decode at once, one per thread (:mod:`plurieval.models.lanes`; default
        torch's thread count): a speed setting only, the tokens are the same for any count.
        ``share_prefix``: the prompt prefix that a batch's rows have in common (the chat
        template's system turn) is computed once per setting, not once per row
        (:meth:`_shared_prefix`); the tokens are the same either way.
        """
        from plurieval.models.decoding import Sampling, decode, row_generators

        if isinstance(prompts, str):
            raise PluriError("generate() takes a list of prompts, not a single string")
        prompts = list(prompts)
        per_row = self._per_row(len(prompts), intervention, interventions)
        formatted = [self.format_prompt(p, chat=chat, system=system) for p in prompts]
        encoded = self.encode(prompts, chat=chat, system=system)
        sampling = Sampling(bool(do_sample), float(temperature), float(top_p))
        generators = None
        if do_sample:
            if temperature <= 0:
                raise PluriError(f"temperature must be > 0 when sampling (got {temperature}); use do_sample=False for greedy")
            if not 0 < top_p <= 1:
                raise PluriError(f"top_p must be in (0, 1] (got {top_p})")
            counts: dict[int, int] = {}
            ranks = []
            for iv in per_row:
                ranks.append(counts.get(id(iv), 0))
                counts[id(iv)] = ranks[-1] + 1
            generators = row_generators(ranks, seed, self.device)
        models = self.lane_models(lanes_for(lanes))
        # batches of a model whose rows depend on their batch are planned as for one lane
        planned_lanes = len(models) if self.rows_independent else 1
        size = self._batch_size(batch_size, encoded, max_new_tokens, lanes=planned_lanes)
        if batch_size is None:
            size = _split_for_lanes(len(prompts), size, planned_lanes)
        share_prefix = share_prefix and use_cache

        def run_batch(model: LanguageModel, idx: list[int]) -> list[tuple[list[int], str]]:
            seqs, ivs = _pick(encoded, idx), _pick(per_row, idx)
            shared = model._shared_prefix(seqs, ivs) if share_prefix else None
            ids, mask = model._pad_rows(seqs, shared)
            with model._prompt_len(mask.shape[1]):
                cache = model._prefill_prefix(shared, mask.shape[1] + int(max_new_tokens)) if shared is not None else None
                with model._steer_rows(ivs) as rows:
                    return decode(model.hf, ids, mask, max_new_tokens=int(max_new_tokens),
                                  eos_token_ids=self.eos_token_ids, sampling=sampling,
                                  generators=_pick(generators, idx) if generators is not None else None,
                                  use_cache=use_cache, rows=rows, cache=cache)

        out: list[Generation | None] = [None] * len(prompts)
        batches = list(_batches(encoded, size))
        for k, results in run_in_lanes(batches, run_batch, models):
            idx = batches[k]
            for i, (new, reason) in zip(idx, results, strict=True):
                text = self.tokenizer.decode(new, skip_special_tokens=True)
                out[i] = Generation(prompt=prompts[i], text=text, token_ids=new,
                                    formatted_prompt=formatted[i], finish_reason=reason)
            if progress is not None:
                progress(len(idx))
        return out  # type: ignore[return-value]

    # --- scoring --------------------------------------------------------------------------------

    @torch.inference_mode()
    def next_token_logprobs(self, prompts: Sequence[str], *, chat: bool = True, system: str | None = None,
                            intervention: Intervention | None = None, batch_size: int | None = None,
                            interventions: Interventions | None = None, progress: Progress | None = None,
                            share_prefix: bool = False) -> torch.Tensor:
        """``[n, vocab]`` float32 log-probabilities of the token after each prompt
        (``interventions``: one per prompt, e.g. every candidate direction of a screen).
        ``share_prefix=True``: as in :meth:`generate`, a batch's common prompt prefix is
        computed once per setting (a PolyRefuse selection ~20 % faster). Off by default: the
        log-probabilities then differ from whole prompts in the last float bits (within 3e-6),
        which moves scores computed from them (PolyRefuse's ``refusal_score``) in the sixth
        digit, and recorded runs would no longer rerun to the same numbers. ``generate``
        shares by default because its tokens are identical either way."""
        encoded = self.encode(list(prompts), chat=chat, system=system)
        per_row = self._per_row(len(encoded), intervention, interventions)
        out: torch.Tensor | None = None
        for idx in _batches(encoded, self._batch_size(batch_size, encoded)):
            seqs, ivs = _pick(encoded, idx), _pick(per_row, idx)
            shared = self._shared_prefix(seqs, ivs) if share_prefix else None
            ids, mask = self._pad_rows(seqs, shared)
            with self._prompt_len(None):
                cache = self._prefill_prefix(shared, mask.shape[1]) if shared is not None else None
                with self._steer_rows(ivs):
                    logits = self._forward(ids, mask, cache, logits_to_keep=1).logits[:, -1]
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()
            if out is None:
                out = torch.empty(len(encoded), logp.shape[-1])
            out[idx] = logp
            if progress is not None:
                progress(len(idx))
        return out if out is not None else torch.empty(0, 0)

    @torch.inference_mode()
    def continuation_logprobs(self, prompts: Sequence[str], continuations: Sequence[str], *, chat: bool = True,
                              system: str | None = None, intervention: Intervention | None = None,
                              batch_size: int | None = None, interventions: Interventions | None = None,
                              progress: Progress | None = None) -> list[float]:
        """Summed log-probability of each continuation given its prompt (teacher forcing)."""
        if len(prompts) != len(continuations):
            raise PluriError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        heads = self.encode(list(prompts), chat=chat, system=system)
        tails = [self._encode_one(c, special=False) for c in continuations]
        per_row = self._per_row(len(heads), intervention, interventions)
        full = [h + t for h, t in zip(heads, tails, strict=True)]
        out: list[float] = [0.0] * len(full)
        # every position's logits are kept here: bound the rows by the vocabulary as well
        size = self._batch_size(batch_size, full)
        if batch_size is None:
            width = max((len(x) for x in full), default=1)
            size = max(1, min(size, BATCH_MEMORY_BYTES // max(1, width * self.hf.config.vocab_size * 8)))
        for idx in _batches(full, size):
            ids, mask = self.pad_left(_pick(full, idx))
            with self._prompt_len(None), self._steer_rows(_pick(per_row, idx)):
                logp = torch.log_softmax(self._forward(ids, mask).logits.float(), dim=-1)
            width = ids.shape[1]
            for j, i in enumerate(idx):
                if tails[i]:
                    pos = torch.arange(width - len(tails[i]), width, device=ids.device)
                    out[i] = float(logp[j, pos - 1, ids[j, pos]].sum())
            if progress is not None:
                progress(len(idx))
        return out

    # --- extraction -----------------------------------------------------------------------------

    @torch.inference_mode()
    def extract(self, prompts: Sequence[str], points: Sequence[str] | str, *,
                reduce: Literal["last", "mean", "positions", "all"] = "last", positions: Sequence[int] | None = None,
                chat: bool = True, system: str | None = None, batch_size: int | None = None,
                intervention: Intervention | None = None, interventions: Interventions | None = None,
                progress: Progress | None = None) -> dict[str, Any]:
        """Activations at hook points, float32 on CPU.

        ``reduce``: "last" → ``[n, d]`` (last prompt token); "mean" → ``[n, d]`` over the prompt's
        tokens; "positions" → ``[n, len(positions), d]`` (negative = from the end of the prompt,
        e.g. ``[-1, -2]``; non-negative = from its first token); "all" → list of ``[t_i, d]``.
        The forward pass stops after the deepest requested point.
        """
        if isinstance(points, str):
            points = [points]
        points = list(dict.fromkeys(points))
        if not points:
            raise PluriError("extract() needs at least one hook point")
        if reduce not in ("last", "mean", "positions", "all"):
            raise PluriError(f"reduce must be last, mean, positions or all (got {reduce!r})")
        if reduce == "positions" and not positions:
            raise PluriError("reduce='positions' needs positions=[...] (e.g. [-1, -2])")
        parsed = {p: parse_point(p, self.num_layers) for p in points}
        deepest = max(point_order(*v) for v in parsed.values())
        encoded = self.encode(list(prompts), chat=chat, system=system)
        per_row = self._per_row(len(encoded), intervention, interventions)
        rows: dict[str, list[Any]] = {p: [None] * len(encoded) for p in points}
        for idx in _batches(encoded, self._batch_size(batch_size, encoded)):
            ids, mask = self.pad_left(_pick(encoded, idx))
            with self._steer_rows(_pick(per_row, idx)):
                captured = self._run_capture(ids, mask, parsed, deepest)
            lengths = mask.sum(-1).tolist()
            for p in points:
                reduced = self._reduce(captured[p], lengths, reduce, positions)
                for j, i in enumerate(idx):
                    rows[p][i] = reduced[j]
            if progress is not None:
                progress(len(idx))
        if reduce == "all":
            return rows
        return {p: torch.stack(rows[p]) if rows[p] else torch.empty(0, self.hidden_size) for p in points}

    def _run_capture(self, ids: torch.Tensor, mask: torch.Tensor, parsed: dict[str, tuple[int, str]],
                     deepest: tuple[int, int]) -> dict[str, torch.Tensor]:
        captured: dict[str, torch.Tensor] = {}
        want = len(parsed)
        handles = []

        def make(point: str) -> Any:
            def fn(x: torch.Tensor) -> None:
                captured[point] = x.detach()
                if len(captured) == want:
                    raise _StopForward
                return None

            return fn

        try:
            # Attach in forward order so that at one module the capture runs after steering hooks.
            for point in sorted(parsed, key=lambda p: point_order(*parsed[p])):
                handles.append(self._attach_point(point, make(point)))
            with self._prompt_len(None):
                try:
                    self._forward(ids, mask, logits_to_keep=1)
                except _StopForward:
                    pass
        finally:
            for h in handles:
                h.remove()
        missing = set(parsed) - set(captured)
        if missing:
            raise PluriError(f"hook points {sorted(missing)} were not reached in the forward pass")
        return captured

    @staticmethod
    def _reduce(h: torch.Tensor, lengths: list[int], reduce: str, positions: Sequence[int] | None) -> Any:
        h = h.float()
        width = h.shape[1]
        if reduce == "last":
            return h[:, -1].cpu()
        if reduce == "mean":
            rows = [h[i, width - n:].mean(0) for i, n in enumerate(lengths)]
            return torch.stack(rows).cpu()
        if reduce == "all":
            return [h[i, width - n:].cpu().clone() for i, n in enumerate(lengths)]
        rows = []
        for i, n in enumerate(lengths):
            idx = []
            for p in positions or ():
                if not -n <= p < n:
                    raise PluriError(f"position {p} is outside a prompt of {n} tokens")
                idx.append(width + p if p < 0 else width - n + p)
            rows.append(h[i, idx])
        return torch.stack(rows).cpu()


__all__ = ["Generation", "LanguageModel"]
