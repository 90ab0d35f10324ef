"""A lean forward for plain Llama-family models, used by the decode loop in `hf.py`.

At batch 32 a decode step of SmolLM2-135M is ~30 small matrix multiplies per layer
plus bookkeeping; `transformers` adds per-step work on top (mask construction, a
cache that grows by `torch.cat` every step, keys repeated for grouped-query
attention). This module runs the same arithmetic with the model's own weights:

- a static KV cache, preallocated once per batch and written in place;
- grouped-query attention without repeating keys (the heads that share a key
  head become extra query rows of one attention call);
- decode-step projections taken as weight @ x.T, which suits the matrix-multiply
  kernel better at a few rows (`linear`);
- the prompts' shared prefix (the chat template's system turn, or the whole
  prompt when it is repeated for n samples) is computed once and copied to
  every row instead of being recomputed per row.

It bypasses the Hugging Face module calls, so forward hooks, PEFT adapters or
patched modules would be skipped: `supports(model)` admits only an unmodified
`LlamaForCausalLM`, and everything else takes the standard path.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ENABLED = True
"""Set to False to send every model through the standard `transformers` forward."""

STANDARD_MODULES = ("torch.nn.modules.", "transformers.models.llama.", "transformers.activations")
"""Where every submodule of a model on the fast path must come from."""


def supports(model: Any) -> bool:
    """True for an unmodified `LlamaForCausalLM`: no hooks, adapters or patched modules."""
    from transformers import LlamaForCausalLM
    from transformers.models.llama import modeling_llama as ml

    if not ENABLED or type(model) is not LlamaForCausalLM:
        return False
    cfg = model.config
    if (cfg.attention_bias or cfg.mlp_bias or cfg.hidden_act != "silu"
            or getattr(cfg, "pretraining_tp", 1) != 1 or model.lm_head.bias is not None):
        return False
    if nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks:
        return False
    for module in model.modules():
        if module._forward_hooks or module._forward_pre_hooks or "forward" in module.__dict__:
            return False
        if not type(module).__module__.startswith(STANDARD_MODULES):
            return False  # a LoRA, quantized or otherwise replaced layer
    return all(type(layer) is ml.LlamaDecoderLayer and type(layer.self_attn) is ml.LlamaAttention
               and type(layer.mlp) is ml.LlamaMLP for layer in model.model.layers)


def rms_norm(x: Tensor, norm: Any) -> Tensor:
    """`LlamaRMSNorm` step for step, so results match the standard forward bit for bit."""
    h = x.to(torch.float32)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)
    return norm.weight * h.to(x.dtype)


def shared_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the prefix common to all rows, leaving every row at least one own token."""
    limit = min(len(r) for r in rows) - 1
    n = 0
    while n < limit and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


SKINNY_ROWS = 64
"""Up to this many rows, a projection runs as weight @ x.T (see `linear`)."""


def linear(x: Tensor, weight: Tensor) -> Tensor:
    """`F.linear(x, weight)` without bias, faster for the few rows of a decode step.

    With up to `SKINNY_ROWS` rows the product is taken as weight @ x.T: the
    matrix-multiply kernel then streams each weight row once along its contiguous
    dimension instead of packing the whole weight for every call. On 2 cores this
    made the projections of a batch-32 decode step of SmolLM2-135M ~1.5x faster,
    lm_head ~1.8x. Each output is the same dot product either way.
    """
    rows = x.reshape(-1, x.shape[-1])
    if rows.shape[0] > SKINNY_ROWS:
        return F.linear(x, weight)
    return torch.mm(weight, rows.t()).t().reshape(*x.shape[:-1], weight.shape[0])


class LlamaStepper:
    """Prefill and one-token steps of a Llama model over a static KV cache.

    Cache slots: [shared prefix | left-padded rest of each prompt | new tokens].
    `valid` (B, T) marks the slots that hold real tokens; padding slots are never
    attended to, and positions come from the token counts, not the slot index.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        cfg = model.config
        self.layers = model.model.layers
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads
        self.k: Tensor = torch.empty(0)
        self.v: Tensor = torch.empty(0)
        self.valid: Tensor = torch.empty(0, dtype=torch.bool)
        self.next_pos: Tensor = torch.empty(0, dtype=torch.long)
        self.slot = 0
        self.weights = fused_weights(model)

    def prefill(self, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int,
                pad_id: int) -> Tensor:
        """Fill the cache with the prompts; return (B, V) logits for the first new token."""
        from alignlab.models.hf import left_pad, positions

        n_prefix = shared_prefix(prompt_ids)
        rest, mask = left_pad([r[n_prefix:] for r in prompt_ids], pad_id)  # (B, S)
        width = n_prefix + rest.shape[1] + max_new_tokens
        shape = (len(self.layers), len(prompt_ids), self.n_kv, width, self.head_dim)
        dtype = self.model.lm_head.weight.dtype
        self.k, self.v = torch.zeros(shape, dtype=dtype), torch.zeros(shape, dtype=dtype)
        self.valid = torch.zeros((len(prompt_ids), width), dtype=torch.bool)
        if n_prefix:
            # One row computes the prefix; the cache write broadcasts it to every row.
            self.valid[:, :n_prefix] = True
            ids = torch.tensor([prompt_ids[0][:n_prefix]], dtype=torch.long)
            self.forward(ids, torch.arange(n_prefix)[None], 0)
        self.valid[:, n_prefix:n_prefix + rest.shape[1]] = mask.bool()
        pos = n_prefix + positions(mask)
        logits = self.forward(rest, pos, n_prefix)
        self.slot = n_prefix + rest.shape[1]
        self.next_pos = pos[:, -1] + 1
        return logits

    def step(self, tokens: Tensor) -> Tensor:
        """Feed one token per row (B,); return (B, V) logits for the next one."""
        self.valid[:, self.slot] = True
        logits = self.forward(tokens[:, None], self.next_pos[:, None], self.slot)
        self.slot += 1
        self.next_pos = self.next_pos + 1
        return logits

    def keep(self, rows: Tensor) -> None:
        """Drop finished rows from the batch: `rows` are the indices of the rows to keep."""
        self.k, self.v = self.k[:, rows], self.v[:, rows]
        self.valid, self.next_pos = self.valid[rows], self.next_pos[rows]

    def forward(self, ids: Tensor, pos: Tensor, start: int) -> Tensor:
        """Run ids (b, S) at cache slots [start, start+S); (b, V) logits of the last position.

        b is 1 for the shared prefix, whose keys and values every row then reads.
        """
        base = self.model.model
        x = base.embed_tokens(ids)                                 # (b, S, d)
        cos, sin = base.rotary_emb(x, pos)                          # (b, S, head_dim)
        end = start + ids.shape[1]
        keys = self.valid[:ids.shape[0], :end]                     # (b, end)
        if ids.shape[1] == 1:
            # An additive mask, built once per step rather than converted in every layer.
            mask = torch.zeros(keys.shape, dtype=x.dtype).masked_fill_(~keys, float("-inf"))
            mask = mask[:, None, None, :]                           # (b, 1, 1, end)
        else:
            causal = torch.ones(ids.shape[1], end, dtype=torch.bool).tril(start)
            # A padding query may see no key at all; let it see itself so softmax stays finite.
            own = torch.zeros_like(causal)
            own[:, start:] = torch.eye(ids.shape[1], dtype=torch.bool)
            mask = (keys[:, None, None, :] & causal) | own          # (b, 1, S, end)
        rope = (cos[:, None], sin[:, None])                         # broadcast over heads
        for i, (layer, (qkv, gate_up)) in enumerate(zip(self.layers, self.weights, strict=True)):
            attn = layer.self_attn
            h = rms_norm(x, layer.input_layernorm)
            x = x + linear(self.attention(i, linear(h, qkv), rope, start, mask, attn.scaling),
                           attn.o_proj.weight)
            gate, up = linear(rms_norm(x, layer.post_attention_layernorm), gate_up).chunk(2, -1)
            x = x + linear(F.silu(gate) * up, layer.mlp.down_proj.weight)
        # Sampling reads the logits row by row: make them contiguous (B, V) once.
        logits = linear(rms_norm(x[:, -1], base.norm), self.model.lm_head.weight)
        return logits.float().contiguous()

    def attention(self, i: int, qkv: Tensor, rope: tuple[Tensor, Tensor], start: int,
                  mask: Tensor, scale: float) -> Tensor:
        """Attention of layer i from its fused projections qkv (b, S, (H + 2 KV) * head_dim)."""
        from transformers.models.llama.modeling_llama import rotate_half

        b, s, _ = qkv.shape
        n_qk = self.n_heads + self.n_kv
        # Queries and keys get the same rotary embedding, applied once to both together.
        qk = qkv[..., :n_qk * self.head_dim].view(b, s, n_qk, self.head_dim).transpose(1, 2)
        qk = (qk * rope[0]) + (rotate_half(qk) * rope[1])         # (b, H + KV, S, head_dim)
        q, k = qk[:, :self.n_heads], qk[:, self.n_heads:]
        v = qkv[..., n_qk * self.head_dim:].view(b, s, self.n_kv, self.head_dim).transpose(1, 2)
        end = start + s
        self.k[i, :, :, start:end] = k                             # broadcasts a b=1 prefix
        self.v[i, :, :, start:end] = v
        keys, values = self.k[i, :b, :, :end], self.v[i, :b, :, :end]
        if s == 1:
            # The heads sharing one key head become that head's query rows: no repeated keys.
            # At one query per row, three small matmuls beat the fused kernel's per-call setup.
            q = q.reshape(b, self.n_kv, self.n_heads // self.n_kv, self.head_dim)
            scores = (q @ keys.transpose(-1, -2)).mul_(scale).add_(mask)  # (b, KV, H/KV, end)
            out = torch.softmax(scores, -1) @ values
        else:
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=scale,
                                                 enable_gqa=True)
        return out.reshape(b, self.n_heads, s, self.head_dim).transpose(1, 2).reshape(b, s, -1)


# Fused weights per model, rebuilt whenever a parameter is replaced or changed in place
# (an optimizer step bumps `Tensor._version`), so a model trained between calls is never stale.
_FUSED: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], list[tuple[Tensor, Tensor]]]] = (
    weakref.WeakKeyDictionary())


def fused_weights(model: Any) -> list[tuple[Tensor, Tensor]]:
    """Per layer, (q|k|v, gate|up) projection weights concatenated: 4 matmuls a layer, not 7.

    Each output column of a matmul does not depend on the other columns, so the
    fused products equal the separate ones exactly.
    """
    projections = [(layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj,
                    layer.mlp.gate_proj, layer.mlp.up_proj) for layer in model.model.layers]
    key = tuple((m.weight.data_ptr(), m.weight._version) for group in projections for m in group)
    cached = _FUSED.get(model)
    if cached is None or cached[0] != key:
        with torch.no_grad():
            fused = [(torch.cat([q.weight, k.weight, v.weight]), torch.cat([g.weight, u.weight]))
                     for q, k, v, g, u in projections]
        cached = _FUSED[model] = (key, fused)
    return cached[1]
