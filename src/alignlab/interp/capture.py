"""Activation capture and intervention on unmodified Hugging Face decoders.

Activations get TransformerLens-style names that read like paths, mapped onto the
HF modules with forward hooks instead of a re-implementation of each architecture:

    hook_embed                      output of the token embedding        (B, T, D)
    blocks.{i}.hook_resid_pre       input of decoder block i             (B, T, D)
    blocks.{i}.attn.hook_out        output of block i's attention        (B, T, D)
    blocks.{i}.mlp.hook_out         output of block i's MLP              (B, T, D)
    blocks.{i}.hook_resid_post      output of decoder block i            (B, T, D)
    ln_final.hook_normalized        output of the final norm             (B, T, D)

The same hooks serve reading (`run_with_cache`, `prompt_activations`,
`stream_to_disk`) and writing (`intervene`: steering vectors, SAE splicing,
ablations). A PEFT-wrapped model works too: its HF modules are still there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from alignlab.models.hf import left_pad, positions

Edit = Callable[[Tensor], Tensor]
"""An intervention: (B, T, D) activation -> (B, T, D) replacement."""

_ATTN = ("self_attn", "attn", "attention")
_MLP = ("mlp", "feed_forward")
_NORM = ("norm", "ln_f", "final_layer_norm")


def decoder_blocks(model: nn.Module) -> tuple[nn.Module, nn.ModuleList]:
    """(module holding the blocks, the ModuleList of decoder blocks) of any HF decoder."""
    n_layers = getattr(model.config, "num_hidden_layers", None)
    for _, module in model.named_modules():
        for child_name, child in module.named_children():
            if isinstance(child, nn.ModuleList) and len(child) == n_layers and child_name in (
                    "layers", "h", "blocks"):
                return module, child
    raise ValueError(f"cannot find the decoder blocks of {type(model).__name__}")


def _child(module: nn.Module, names: Sequence[str]) -> nn.Module | None:
    return next((getattr(module, n) for n in names if hasattr(module, n)), None)


def hook_points(model: nn.Module) -> dict[str, tuple[nn.Module, str]]:
    """Every hook name -> (module, "in" for the module's input or "out" for its output)."""
    parent, blocks = decoder_blocks(model)
    points: dict[str, tuple[nn.Module, str]] = {"hook_embed": (model.get_input_embeddings(), "out")}
    for i, block in enumerate(blocks):
        points[f"blocks.{i}.hook_resid_pre"] = (block, "in")
        attn, mlp = _child(block, _ATTN), _child(block, _MLP)
        if attn is not None:
            points[f"blocks.{i}.attn.hook_out"] = (attn, "out")
        if mlp is not None:
            points[f"blocks.{i}.mlp.hook_out"] = (mlp, "out")
        points[f"blocks.{i}.hook_resid_post"] = (block, "out")
    norm = _child(parent, _NORM)
    if norm is not None:
        points["ln_final.hook_normalized"] = (norm, "out")
    return points


def resid_name(layer: int) -> str:
    return f"blocks.{layer}.hook_resid_post"


def _first(value: Any) -> Tensor:
    """HF modules return a tensor or a tuple whose first item is the hidden states."""
    return value[0] if isinstance(value, tuple) else value


def _replace_first(value: Any, new: Tensor) -> Any:
    return (new, *value[1:]) if isinstance(value, tuple) else new


def _lookup(points: Mapping[str, tuple[nn.Module, str]], name: str) -> tuple[nn.Module, str]:
    if name not in points:
        sample = ", ".join(list(points)[:4])
        raise ValueError(f"unknown hook name {name!r} (examples: {sample}, ...)")
    return points[name]


@contextmanager
def hooked(model: nn.Module, reads: Mapping[str, Callable[[Tensor], None]] | None = None,
           edits: Mapping[str, Edit] | None = None) -> Iterator[None]:
    """Within the block, call `reads[name](act)` and replace act by `edits[name](act)`."""
    reads, edits = reads or {}, edits or {}
    points = hook_points(model)
    handles = []

    def output_hook(name: str) -> Callable[..., Any]:
        def hook(module: nn.Module, args: Any, output: Any) -> Any:
            act = _first(output)
            if name in edits:
                act = edits[name](act)
                output = _replace_first(output, act)
            if name in reads:
                reads[name](act)
            return output if name in edits else None
        return hook

    def input_hook(name: str) -> Callable[..., Any]:
        def hook(module: nn.Module, args: Any, kwargs: dict[str, Any]) -> Any:
            from_kwargs = not args
            act = kwargs["hidden_states"] if from_kwargs else args[0]
            if name in edits:
                act = edits[name](act)
            if name in reads:
                reads[name](act)
            if name not in edits:
                return None
            if from_kwargs:
                return args, {**kwargs, "hidden_states": act}
            return (act, *args[1:]), kwargs
        return hook

    try:
        for name in {*reads, *edits}:
            module, where = _lookup(points, name)
            if where == "out":
                handles.append(module.register_forward_hook(output_hook(name)))
            else:
                handles.append(module.register_forward_pre_hook(input_hook(name),
                                                                with_kwargs=True))
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def intervene(model: nn.Module, edits: Mapping[str, Edit]) -> Iterator[None]:
    """Replace the named activations during every forward pass inside the block."""
    with hooked(model, edits=edits):
        yield


class _Enough(Exception):
    """Raised by a read hook once every requested activation is in: skips later blocks."""


@torch.no_grad()
def run_with_cache(model: nn.Module, input_ids: Tensor, attention_mask: Tensor | None,
                   names: Sequence[str], stop_early: bool = False,
                   ) -> tuple[Any, dict[str, Tensor]]:
    """One forward pass; return (model output, {name: (B, T, D) activation on the CPU}).

    With `stop_early` the forward stops once every name is captured (output None):
    reading a middle layer then costs half a forward pass.
    """
    cache: dict[str, Tensor] = {}

    def read(name: str, act: Tensor) -> None:
        cache[name] = act.detach().float().cpu()
        if stop_early and len(cache) == len(names):
            raise _Enough

    reads = {n: (lambda act, n=n: read(n, act)) for n in names}
    mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
    out = None
    with hooked(model, reads=reads):
        try:
            out = model(input_ids=input_ids, attention_mask=mask, position_ids=positions(mask))
        except _Enough:
            pass
    return out, cache


def prompt_activations(lm: Any, prompts: Sequence[Any], names: Sequence[str],
                       batch_size: int = 16, completions: Sequence[str] | None = None,
                       ) -> dict[str, Tensor]:
    """Activations at the last token of each prompt (+ completion), {name: (N, D)}.

    With left padding the last column is every row's last real token. Prompts are
    formatted exactly as the model sees them (chat template for chat models).
    """
    rows = lm.encode(list(prompts))
    if completions is not None:
        rows = [r + c for r, c in zip(rows, lm.encode_completions(completions), strict=True)]
    out: dict[str, list[Tensor]] = {n: [] for n in names}
    for start in range(0, len(rows), batch_size):
        ids, mask = left_pad(rows[start:start + batch_size], lm.pad_id)
        _, cache = run_with_cache(lm.model, ids, mask, names, stop_early=True)
        for n in names:
            out[n].append(cache[n][:, -1])
    return {n: torch.cat(v) for n, v in out.items()}


def _text_batch(lm: Any, texts: Sequence[str], max_tokens: int, skip_first: bool,
                ) -> tuple[Tensor, Tensor, Tensor]:
    """(ids, attention mask, mask of the tokens to keep) for raw texts, left-padded."""
    rows = [lm.tokenizer(t)["input_ids"][:max_tokens] for t in texts]
    ids, mask = left_pad(rows, lm.pad_id)
    keep = mask.clone()
    if skip_first:  # the first token is an attention sink with a huge residual norm
        keep[torch.arange(len(rows)), mask.argmax(-1)] = 0
    return ids, mask, keep.bool()


def token_activations(lm: Any, texts: Sequence[str], name: str, batch_size: int = 8,
                      max_tokens: int = 128, skip_first: bool = True) -> Tensor:
    """Activations at every real token of raw `texts` (no chat template), (n_tokens, D)."""
    chunks = []
    for start in range(0, len(texts), batch_size):
        ids, mask, keep = _text_batch(lm, texts[start:start + batch_size], max_tokens, skip_first)
        _, cache = run_with_cache(lm.model, ids, mask, [name], stop_early=True)
        chunks.append(cache[name][keep])
    return torch.cat(chunks)


def stream_to_disk(lm: Any, texts: Sequence[str], names: Sequence[str], out: Path,
                   batch_size: int = 8, max_tokens: int = 128, skip_first: bool = True,
                   ) -> dict[str, int]:
    """Capture every real token's activations batch by batch into `out/NAME/00000.pt` shards.

    Memory stays at one batch however many texts there are; returns tokens per name.
    """
    out = Path(out)
    counts = dict.fromkeys(names, 0)
    for k, start in enumerate(range(0, len(texts), batch_size)):
        ids, mask, keep = _text_batch(lm, texts[start:start + batch_size], max_tokens, skip_first)
        _, cache = run_with_cache(lm.model, ids, mask, names, stop_early=True)
        for n in names:
            folder = out / n
            folder.mkdir(parents=True, exist_ok=True)
            acts = cache[n][keep]
            torch.save(acts.clone(), folder / f"{k:05d}.pt")
            counts[n] += len(acts)
    return counts


def load_shards(out: Path, name: str) -> Tensor:
    """All shards written by `stream_to_disk` for one hook name, (n_tokens, D)."""
    files = sorted((Path(out) / name).glob("*.pt"))
    if not files:
        raise ValueError(f"no activation shards for {name!r} under {out}")
    return torch.cat([torch.load(f, weights_only=True) for f in files])
