"""Decoding lanes: the batches of one call decoded at once, each on a CPU thread of its own.

Why: decoding is a chain of small matrix products (one new token per row per step). torch's
intra-op threads split each product and meet again after it, hundreds of times per step; on the
default model a second intra-op thread adds little. Giving each thread whole batches instead
(one torch thread per lane) keeps every core busy on its own work. torch releases the GIL
inside its kernels, so plain Python threads suffice and the weights are not copied.

Each lane decodes on a :func:`share_weights` replica of the model's module tree: a tree of new
module objects holding the *same* parameter and buffer tensors (memory grows by the lanes' KV
caches only), with hook tables of its own, so the per-row interventions a lane attaches for its
batch never reach another lane's rows.

A row's tokens do not depend on its batch (each row is computed independently; tested), and
every lane runs single-threaded, so the lane count is a speed setting, not part of a run's
identity: a run's outputs are the same with 1 lane or 8 (tested token for token).
"""

from __future__ import annotations

import contextlib
import os
import queue
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, TypeVar

import torch

from plurieval.errors import PluriError

T = TypeVar("T")
R = TypeVar("R")

LANES_ENV = "PLURIEVAL_DECODE_LANES"
_HOOK_TABLES = ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs",
                "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called",
                "_backward_hooks", "_backward_pre_hooks", "_state_dict_hooks", "_load_state_dict_pre_hooks")


def share_weights(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``module``'s tree whose modules are new objects but whose parameters and
    buffers are the original tensors (nothing is copied). Hooks present now are kept; hooks
    attached later to either tree stay on that tree."""
    clone = object.__new__(type(module))
    clone.__dict__ = dict(module.__dict__)
    clone._parameters = OrderedDict(module._parameters)
    clone._buffers = OrderedDict(module._buffers)
    clone._modules = OrderedDict((k, share_weights(v) if v is not None else None) for k, v in module._modules.items())
    for table in _HOOK_TABLES:
        if table in module.__dict__:
            clone.__dict__[table] = OrderedDict(module.__dict__[table])
    return clone


def hook_count(module: torch.nn.Module) -> int:
    """How many forward hooks the tree carries (a replica is only valid while this is unchanged)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def lanes_for(requested: int | None) -> int:
    """Lanes for a call: ``requested``, else ``$PLURIEVAL_DECODE_LANES``, else torch's thread
    count (the threads a run was given become its lanes)."""
    if requested is None:
        env = os.environ.get(LANES_ENV, "").strip()
        if env:
            try:
                requested = int(env)
            except ValueError:
                raise PluriError(f"{LANES_ENV}={env!r} is not a whole number (decoding lanes; 1 = no lanes)") from None
        else:
            requested = torch.get_num_threads()
    if int(requested) < 1:
        raise PluriError(f"decoding lanes must be at least 1 (got {requested})")
    return int(requested)


@contextlib.contextmanager
def _single_threaded_kernels() -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def run_in_lanes(jobs: Sequence[T], work: Callable[[Any, T], R], models: Sequence[Any]) -> Iterator[tuple[int, R]]:
    """Run ``work(model, job)`` for every job, ``len(models)`` at a time, each on a thread with
    one model to itself; yields ``(job index, result)`` as jobs finish, on the caller's thread
    (so progress and results are handled there). One model or one job: runs in the caller."""
    if len(models) <= 1 or len(jobs) <= 1:
        for i, job in enumerate(jobs):
            yield i, work(models[0], job)
        return
    free: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for m in models:
        free.put(m)
    grad = torch.is_grad_enabled()
    inference = torch.is_inference_mode_enabled()

    def one(job: T) -> R:
        torch.set_num_threads(1)  # this thread's kernels run single-threaded
        model = free.get()
        try:
            with torch.inference_mode(inference), torch.set_grad_enabled(grad):
                return work(model, job)
        finally:
            free.put(model)

    with _single_threaded_kernels(), ThreadPoolExecutor(max_workers=len(models), thread_name_prefix="plurieval-lane") as pool:
        pending = {pool.submit(one, job): i for i, job in enumerate(jobs)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield pending.pop(fut), fut.result()
        finally:
            for fut in pending:
                fut.cancel()


__all__ = ["LANES_ENV", "hook_count", "lanes_for", "run_in_lanes", "share_weights"]
