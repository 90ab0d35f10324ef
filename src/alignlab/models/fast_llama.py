"""A lean forward for plain Llama-family models, used by the decode loop in `hf.py`.

At batch 32 a decode step of SmolLM2-135M is ~30 small matrix multiplies per layer
plus bookkeeping; `transformers` adds per-step work on top (mask construction, a
cache that grows by `torch.cat` every step, keys repeated for grouped-query
attention). This module runs the same arithmetic with the model's own weights:

- a static KV cache, preallocated once per batch and written in place;
- grouped-query attention without repeating keys (the heads that share a key
  head become extra query rows of one attention call);
- weights folded once per model (`folded_weights`): q|k|v and gate|up
  concatenated, RMSNorm weights and the attention scale multiplied into the
  matmul that follows them;
- decode steps with the hidden state kept as columns, so each projection is one
  weight @ state call with the residual add fused in, and the LM head on
  oneDNN's kernel when it is available;
- the prompts' shared prefix (the chat template's system turn, or the whole
  prompt when it is repeated for n samples) is computed once and copied to
  every row instead of being recomputed per row.

It bypasses the Hugging Face module calls, so forward hooks or patched modules
would be skipped: `supports(model)` admits only a plain `LlamaForCausalLM`, bare or
with plain LoRA adapters (added into the weights here), and everything else takes
the standard path.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ENABLED = True
"""Set to False to send every model through the standard `transformers` forward."""

STANDARD_MODULES = ("torch.nn.modules.", "transformers.models.llama.", "transformers.activations")
"""Where every submodule of a model on the fast path must come from (LoRA layers aside)."""

PEFT_WRAPPERS = ("peft.peft_model", "peft.tuners.lora.model")
"""The modules PEFT wraps around a model with LoRA adapters."""


def llama_of(model: Any) -> Any:
    """The `LlamaForCausalLM` itself, or the one inside a PEFT LoRA wrapper."""
    if type(model).__module__.startswith(PEFT_WRAPPERS[0]):
        model = model.base_model
    if type(model).__module__.startswith(PEFT_WRAPPERS[1]):
        model = model.model
    return model


def supports(model: Any) -> bool:
    """True for a plain `LlamaForCausalLM`, bare or with active LoRA adapters (PEFT), and
    without hooks or patched modules: any other model takes the standard forward."""
    from transformers import LlamaForCausalLM
    from transformers.models.llama import modeling_llama as ml

    llama = llama_of(model)
    if not ENABLED or type(llama) is not LlamaForCausalLM:
        return False
    cfg = llama.config
    if (cfg.attention_bias or cfg.mlp_bias or cfg.hidden_act != "silu"
            or getattr(cfg, "pretraining_tp", 1) != 1 or llama.lm_head.bias is not None):
        return False
    if nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks:
        return False
    for module in model.modules():
        if module._forward_hooks or module._forward_pre_hooks or "forward" in module.__dict__:
            return False
        kind = type(module).__module__
        if kind.startswith(PEFT_WRAPPERS) and module is not llama:
            continue
        if kind == "peft.tuners.lora.layer" and not plain_lora(module):
            return False
        if not kind.startswith((*STANDARD_MODULES, "peft.tuners.lora.layer")):
            return False  # a quantized, otherwise adapted or replaced layer
    return all(type(layer) is ml.LlamaDecoderLayer and type(layer.self_attn) is ml.LlamaAttention
               and type(layer.mlp) is ml.LlamaMLP for layer in llama.model.layers)


def plain_lora(module: Any) -> bool:
    """A LoRA linear layer whose output is exactly (W + its delta weight) @ x: one active,
    unmerged adapter without DoRA, bias or (in training mode) dropout."""
    if type(module).__name__ != "Linear" or module.merged or module.disable_adapters:
        return False
    if len(module.active_adapters) != 1 or type(module.base_layer) is not nn.Linear:
        return False
    name = module.active_adapters[0]
    if name not in module.lora_A or module.use_dora.get(name) or module.lora_bias.get(name):
        return False
    dropout = module.lora_dropout[name]
    return type(dropout) is nn.Identity or not (module.training and dropout.p > 0)


def weight_of(linear: Any) -> Tensor:
    """A projection's weight, with its active LoRA adapter added in: W + scale · B @ A."""
    if type(linear).__module__ == "peft.tuners.lora.layer":
        return linear.base_layer.weight + linear.get_delta_weight(linear.active_adapters[0])
    return linear.weight


def rms_norm(x: Tensor, eps: float, dim: int = -1) -> Tensor:
    """`LlamaRMSNorm` without its weight, which `folded_weights` moved into the next matmul."""
    return x * torch.rsqrt(x.pow(2).mean(dim, keepdim=True).add_(eps))


def shared_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the prefix common to all rows, leaving every row at least one own token."""
    limit = min(len(r) for r in rows) - 1
    n = 0
    while n < limit and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


class LlamaStepper:
    """Prefill and one-token steps of a Llama model over a static KV cache.

    Cache slots: [shared prefix | left-padded rest of each prompt | new tokens].
    `valid` (B, T) marks the slots that hold real tokens; padding slots are never
    attended to, and positions come from the token counts, not the slot index.
    """

    def __init__(self, model: Any) -> None:
        self.model = model = llama_of(model)
        cfg = model.config
        self.n_layers = cfg.num_hidden_layers
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads
        self.eps = cfg.rms_norm_eps
        self.k: Tensor = torch.empty(0)
        self.v: Tensor = torch.empty(0)
        self.valid: Tensor = torch.empty(0, dtype=torch.bool)
        self.next_pos: Tensor = torch.empty(0, dtype=torch.long)
        self.slot = 0
        self.weights = folded_weights(model)

    def prefill(self, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int,
                pad_id: int) -> Tensor:
        """Fill the cache with the prompts; return (B, V) logits for the first new token."""
        from alignlab.models.hf import left_pad, positions

        n_prefix = shared_prefix(prompt_ids)
        rest, mask = left_pad([r[n_prefix:] for r in prompt_ids], pad_id)  # (B, S)
        width = n_prefix + rest.shape[1] + max_new_tokens
        shape = (self.n_layers, len(prompt_ids), self.n_kv, width, self.head_dim)
        dtype = self.weights.head.dtype
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
        logits = self.decode(tokens, self.next_pos, self.slot)
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
        from transformers.models.llama.modeling_llama import rotate_half

        b, s = ids.shape
        w = self.weights
        x = self.model.model.embed_tokens(ids)                      # (b, S, d)
        cos, sin = self.model.model.rotary_emb(x, pos)              # (b, S, head_dim)
        rope = (cos[:, None], sin[:, None])                         # broadcast over heads
        end = start + s
        causal = torch.ones(s, end, dtype=torch.bool).tril(start)
        # A padding query may see no key at all; let it see itself so softmax stays finite.
        own = torch.zeros_like(causal)
        own[:, start:] = torch.eye(s, dtype=torch.bool)
        mask = (self.valid[:b, None, None, :end] & causal) | own     # (b, 1, S, end)
        n_qk = self.n_heads + self.n_kv
        for i, layer in enumerate(w.layers):
            qkv = F.linear(rms_norm(x, self.eps), layer.qkv)
            # Queries and keys get the same rotary embedding, applied once to both together.
            qk = qkv[..., :n_qk * self.head_dim].view(b, s, n_qk, self.head_dim).transpose(1, 2)
            qk = (qk * rope[0]) + (rotate_half(qk) * rope[1])     # (b, H + KV, S, head_dim)
            v = qkv[..., n_qk * self.head_dim:].view(b, s, self.n_kv, self.head_dim)
            self.k[i, :, :, start:end] = qk[:, self.n_heads:]      # broadcasts a b=1 prefix
            self.v[i, :, :, start:end] = v.transpose(1, 2)
            out = F.scaled_dot_product_attention(
                qk[:, :self.n_heads], self.k[i, :b, :, :end], self.v[i, :b, :, :end],
                attn_mask=mask, scale=1.0, enable_gqa=True)       # scale is in the q weights
            x = x + F.linear(out.transpose(1, 2).reshape(b, s, -1), layer.o)
            gate, up = F.linear(rms_norm(x, self.eps), layer.gate_up).chunk(2, -1)
            x = x + F.linear(F.silu(gate) * up, layer.down)
        return head_logits(rms_norm(x[:, -1], self.eps), w)

    def decode(self, tokens: Tensor, pos: Tensor, slot: int) -> Tensor:
        """One new token per row (b,) at cache slot `slot`; (b, V) logits for the next one.

        The hidden state is kept as columns, (d, b): every projection is then
        weight @ state, which the matrix-multiply kernel runs ~1.5x faster than
        state @ weight.T at a few dozen rows (it streams each weight row once
        instead of packing the whole weight per call), and the residual add rides
        along in the same `addmm`. Few, large operations: at this size each extra
        tensor operation costs about as much as its arithmetic.
        """
        b = tokens.shape[0]
        w, hd, kv = self.weights, self.head_dim, self.n_kv
        group = self.n_heads // kv                                  # query heads per key head
        x = w.embed[tokens].t().contiguous()                        # (d, b)
        cos, sin = self.model.model.rotary_emb(x, pos[:, None])     # (b, 1, hd)
        cos, sin = cos[:, 0].t(), sin[:, 0].t()                     # (hd, b)
        # rotate_half(x) * sin == halves-swapped(x) * sin with its first half negated.
        sin = torch.cat((-sin[:hd // 2], sin[hd // 2:]))
        mask = torch.zeros((b, slot + 1), dtype=x.dtype).masked_fill_(
            ~self.valid[:, :slot + 1], float("-inf"))[:, None, None]  # (b, 1, 1, end)
        n_qk = self.n_heads + kv
        for i, layer in enumerate(w.layers):
            qkv = torch.mm(layer.qkv, rms_norm(x, self.eps, dim=0))  # (n_qk*hd + kv*hd, b)
            qk = qkv[:n_qk * hd].view(n_qk, hd, b)
            swapped = torch.cat((qk[:, hd // 2:], qk[:, :hd // 2]), 1)
            qk = torch.addcmul(qk * cos, swapped, sin).permute(2, 0, 1)  # (b, H + KV, hd)
            self.k[i, :, :, slot] = qk[:, self.n_heads:]
            self.v[i, :, :, slot] = qkv[n_qk * hd:].view(kv, hd, b).permute(2, 0, 1)
            keys, values = self.k[i, :, :, :slot + 1], self.v[i, :, :, :slot + 1]
            # The heads sharing one key head are that head's query rows: no repeated keys.
            q = qk[:, :self.n_heads].reshape(b, kv, group, hd)
            scores = torch.matmul(q, keys.transpose(-1, -2)).add_(mask)  # (b, kv, group, end)
            out = torch.matmul(torch.softmax(scores, -1), values)          # (b, kv, group, hd)
            x = torch.addmm(x, layer.o, out.reshape(b, -1).t())
            gate_up = torch.mm(layer.gate_up, rms_norm(x, self.eps, dim=0))
            gate, up = gate_up.chunk(2)
            x = torch.addmm(x, layer.down, F.silu(gate).mul_(up))
        return head_logits(rms_norm(x.t(), self.eps), w)


def head_logits(h: Tensor, w: FoldedWeights) -> Tensor:
    """(b, V) float logits from final hidden states (b, d), contiguous for row-wise sampling."""
    if w.packed_head is not None:
        return torch.ops.mkldnn._linear_pointwise(h, w.packed_head, None, "none", [], "")
    return torch.mm(w.head, h.t()).t().float().contiguous()


class FoldedLayer(NamedTuple):
    qkv: Tensor       # [q * attention scale | k | v] projections, input norm folded in
    o: Tensor
    gate_up: Tensor   # [gate | up] projections, post-attention norm folded in
    down: Tensor


class FoldedWeights(NamedTuple):
    layers: list[FoldedLayer]
    embed: Tensor
    head: Tensor      # lm_head with the final norm folded in
    packed_head: Tensor | None   # the same, laid out for oneDNN when it is available


# Folded weights per model, rebuilt whenever a parameter is replaced or changed in place
# (an optimizer step bumps `Tensor._version`), so a model trained between calls is never stale.
_FOLDED: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], FoldedWeights]] = (
    weakref.WeakKeyDictionary())


def folded_weights(model: Any) -> FoldedWeights:
    """The model's weights rearranged for fewer, larger operations per layer.

    Projections that read the same input are concatenated (q|k|v, gate|up: 4 matmuls
    a layer, not 7), LoRA adapters are added into their projections, and each RMSNorm
    weight and the attention scale are multiplied into the columns or rows of the
    matmul that follows them: W @ (g * x) equals (W * g) @ x, up to float rounding.
    """
    llama = llama_of(model)
    key = (tuple((p.data_ptr(), p._version) for p in llama.parameters()),
           tuple(tuple(m.active_adapters) for m in llama.modules() if hasattr(m, "lora_A")))
    cached = _FOLDED.get(llama)
    if cached is None or cached[0] != key:
        with torch.no_grad():
            cached = _FOLDED[llama] = (key, fold(llama))
    return cached[1]


def fold(model: Any) -> FoldedWeights:
    layers = []
    for layer in model.model.layers:
        attn, mlp = layer.self_attn, layer.mlp
        g_in, g_post = layer.input_layernorm.weight, layer.post_attention_layernorm.weight
        q, k, v, o = (weight_of(attn.q_proj), weight_of(attn.k_proj), weight_of(attn.v_proj),
                      weight_of(attn.o_proj))
        qkv = torch.cat([q * attn.scaling, k, v]) * g_in
        gate_up = torch.cat([weight_of(mlp.gate_proj), weight_of(mlp.up_proj)]) * g_post
        layers.append(FoldedLayer(qkv, o.detach(), gate_up, weight_of(mlp.down_proj).detach()))
    head = weight_of(model.lm_head) * model.model.norm.weight
    return FoldedWeights(layers, model.model.embed_tokens.weight.detach(), head, pack(head))


def pack(weight: Tensor) -> Tensor | None:
    """`weight` in oneDNN's blocked layout for `_linear_pointwise`, or None without oneDNN.

    The LM head is the largest matmul of a decode step (a 49k-row vocabulary at
    SmolLM2's size); oneDNN's kernel ran it ~1.5x faster than the BLAS call here.
    """
    if weight.dtype != torch.float32 or not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._reorder_linear_weight(weight, 32)
    except (AttributeError, RuntimeError):
        return None
