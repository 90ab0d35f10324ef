"""Hugging Face causal LMs: batched generation with a lean decode loop, and scoring.

`transformers.generate` spends much of each step in Python (logits processors,
stopping criteria, cache bookkeeping) and computes the LM head over the whole
prompt at prefill. The loop in `decode` does only what sampling needs: one
forward per token with a KV cache, the LM head on the last position only, and
finished rows dropped from the batch (and from the cache) as soon as they end.

The forward itself comes from a stepper: `fast_llama.LlamaStepper` (static cache,
shared prompt prefix, fused projections) for unmodified Llama models, else
`HFStepper`, the model's own forward, which hooks, steering and adapters see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from alignlab.models import fast_llama
from alignlab.models.base import Completion, Prompt, SamplingParams, as_messages, cut_at_stop


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """(B, T) token ids and attention mask, padded on the left."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
    return ids, mask


def positions(mask: Tensor) -> Tensor:
    """Position ids that start at 0 on each row's first real token (left padding)."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def sample_tokens(logits: Tensor, params: SamplingParams, generator: torch.Generator | None,
                  ) -> Tensor:
    """Next token per row from (B, V) logits: greedy at temperature 0, else top-p sampling."""
    if params.temperature <= 0:
        return logits.argmax(-1)
    probs = F.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        # Drop tokens once the mass before them already reaches top_p (keeps at least one).
        drop = sorted_p.cumsum(-1) - sorted_p >= params.top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        return order.gather(-1, categorical(sorted_p, generator)[:, None]).squeeze(-1)
    return categorical(probs, generator)


def categorical(weights: Tensor, generator: torch.Generator | None) -> Tensor:
    """One index per row of (B, V) non-negative weights, drawn with probability ∝ weight.

    Inverse-CDF sampling: one uniform number per row and a binary search in the
    running sum. `torch.multinomial` draws V exponential numbers per row instead,
    which at a 49k vocabulary took ~15% of a decode step.
    """
    cdf = weights.cumsum(-1)
    u = torch.rand((weights.shape[0], 1), generator=generator, dtype=cdf.dtype) * cdf[:, -1:]
    # A weight-0 index never has u in [cdf[i-1], cdf[i]), as that interval is empty.
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp(max=weights.shape[-1] - 1)


class HFStepper:
    """The standard path: the model's own forward with a growing `DynamicCache`.

    Hooks, steering and PEFT adapters see every call, so any model works here.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.cache: Any = None
        self.mask = torch.empty(0, dtype=torch.long)
        self.next_pos = torch.empty(0, dtype=torch.long)

    def prefill(self, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int,
                pad_id: int) -> Tensor:
        from transformers import DynamicCache

        ids, self.mask = left_pad(prompt_ids, pad_id)
        self.cache = DynamicCache()
        pos = positions(self.mask)
        out = self.model(input_ids=ids, attention_mask=self.mask, position_ids=pos,
                         cache=self.cache, use_cache=True, logits_to_keep=1)
        self.next_pos = pos[:, -1] + 1
        return out.logits[:, -1].float()

    def step(self, tokens: Tensor) -> Tensor:
        self.mask = torch.cat([self.mask, self.mask.new_ones((len(tokens), 1))], dim=1)
        out = self.model(input_ids=tokens[:, None], attention_mask=self.mask,
                         position_ids=self.next_pos[:, None], cache=self.cache, use_cache=True)
        self.next_pos = self.next_pos + 1
        return out.logits[:, -1].float()

    def keep(self, rows: Tensor) -> None:
        self.cache.batch_select_indices(rows)
        self.mask, self.next_pos = self.mask[rows], self.next_pos[rows]


def token_logprobs(logits: Tensor, token: Tensor) -> Tensor:
    """log_softmax(logits)[token] per row, without materialising the whole (B, V) log_softmax."""
    return logits.gather(-1, token[:, None]).squeeze(-1) - logits.logsumexp(-1)


@torch.inference_mode()
def decode(model: Any, prompt_ids: Sequence[Sequence[int]], params: SamplingParams,
           eos_ids: set[int], pad_id: int, generator: torch.Generator | None = None,
           fast: bool | None = None) -> list[tuple[list[int], list[float]]]:
    """Generate for one batch; return (new token ids, their logprobs at temperature 1) per row.

    `fast=None` takes the lean Llama forward (`fast_llama`) when the model allows it
    (a plain Llama without hooks or adapters) and the standard forward otherwise.
    """
    use_fast = fast_llama.supports(model) if fast is None else fast
    stepper = fast_llama.LlamaStepper(model) if use_fast else HFStepper(model)
    logits = stepper.prefill(prompt_ids, params.max_new_tokens, pad_id)   # (B, V)
    rows = torch.arange(len(prompt_ids))                       # original row of each live row
    tokens: list[list[int]] = [[] for _ in prompt_ids]
    logps: list[list[float]] = [[] for _ in prompt_ids]
    eos = torch.tensor(sorted(eos_ids), dtype=torch.long)
    for step in range(params.max_new_tokens):
        token = sample_tokens(logits, params, generator)      # (B_live,)
        token_logp = token_logprobs(logits, token)
        for r, t, lp in zip(rows.tolist(), token.tolist(), token_logp.tolist(), strict=True):
            tokens[r].append(t)
            logps[r].append(lp)
        if step == params.max_new_tokens - 1:
            break  # the last token needs no forward
        live = ~torch.isin(token, eos)
        if not live.all():
            if not live.any():
                break
            keep = live.nonzero().squeeze(-1)
            stepper.keep(keep)
            rows, token = rows[keep], token[keep]
        logits = stepper.step(token)
    return list(zip(tokens, logps, strict=True))


def sequence_logprobs(model: Any, prompt_ids: Sequence[Sequence[int]],
                      completion_ids: Sequence[Sequence[int]], pad_id: int) -> list[Tensor]:
    """Log-probabilities of each completion token given its prompt, one (len_i,) tensor per row.

    Left padding puts every completion at the end of its row, so the LM head runs
    only on the last `max completion length` positions. Differentiable: training
    code calls this under autograd, scoring code under `torch.no_grad`.
    """
    rows = [list(p) + list(c) for p, c in zip(prompt_ids, completion_ids, strict=True)]
    ids, mask = left_pad(rows, pad_id)
    n_keep = max(len(c) for c in completion_ids) + 1
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask),
                logits_to_keep=n_keep)
    logp = F.log_softmax(out.logits[:, :-1].float(), dim=-1)  # (B, n_keep-1, V) predicts next
    targets = ids[:, -(n_keep - 1):]                           # (B, n_keep-1)
    token_logp = logp.gather(-1, targets[..., None]).squeeze(-1)
    return [token_logp[i, token_logp.shape[1] - len(c):] for i, c in enumerate(completion_ids)]


def packed_logprobs(model: Any, prompt_ids: Sequence[Sequence[int]],
                    completion_ids: Sequence[Sequence[int]], max_tokens: int = 1024,
                    ) -> list[Tensor]:
    """`sequence_logprobs` computed on one packed row with no token computed twice.

    Training batches repeat themselves: a preference pair's chosen and rejected share a
    prompt, and a chat template puts the same system turn before every prompt. Here the
    prompts' common prefix goes in once, each distinct prompt's remainder once, then
    every completion, and a tree-shaped attention mask lets each token see only its own
    ancestors (position ids restart each branch where its prompt ended). No padding, no
    repeated prefix: a DPO step on chat pairs runs about half the tokens the padded batch
    does. Needs a transformers model that accepts a 4D attention mask (those built on
    `transformers.masking_utils`, e.g. Llama, Qwen2, GPT-2).

    Attention over one row costs the square of its length, most of it masked out, so a
    batch longer than `max_tokens` is split in two (ordered by prompt first, so rows that
    share one mostly stay together) until each part fits or holds a single row.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, p in enumerate(prompt_ids):
        groups.setdefault(tuple(p), []).append(i)
    if not all(groups):
        raise ValueError("every prompt needs at least one token")
    distinct = list(groups)
    root = _common_prefix(distinct) if len(distinct) > 1 else max(len(distinct[0]) - 1, 0)
    length = root + sum(len(p) - root for p in distinct) + sum(len(c) for c in completion_ids)
    if length > max_tokens and len(prompt_ids) > 1:
        order = [i for p in distinct for i in groups[p]]
        out: list[Tensor] = [torch.empty(0)] * len(prompt_ids)
        for part in (order[:len(order) // 2], order[len(order) // 2:]):
            scored = packed_logprobs(model, [prompt_ids[i] for i in part],
                                     [completion_ids[i] for i in part], max_tokens)
            for i, lp in zip(part, scored, strict=True):
                out[i] = lp
        return out
    tokens: list[int] = list(distinct[0][:root])
    pos: list[int] = list(range(root))
    segment: list[int] = [0] * root
    parent: list[int] = [0]                     # segment -> its parent (the root is its own)
    last_index: dict[tuple[int, ...], int] = {}  # prompt -> packed index of its last token
    for p in distinct:
        parent.append(0)
        tokens += p[root:]
        pos += range(root, len(p))
        segment += [len(parent) - 1] * (len(p) - root)
        last_index[p] = len(tokens) - 1
    prompt_segment = {p: segment[last_index[p]] for p in distinct}
    predictors: list[int] = []                  # packed index whose logits predict each target
    targets: list[int] = []
    for p, c in zip(prompt_ids, completion_ids, strict=True):
        p = tuple(p)
        parent.append(prompt_segment[p])
        start = len(tokens)
        tokens += c
        pos += range(len(p), len(p) + len(c))
        segment += [len(parent) - 1] * len(c)
        predictors += ([last_index[p]] + list(range(start, start + len(c))))[:len(c)]
        targets += c
    mask = _tree_mask(torch.tensor(segment), parent)
    out = model(input_ids=torch.tensor([tokens]), attention_mask=mask[None, None],
                position_ids=torch.tensor([pos]), logits_to_keep=torch.tensor(predictors))
    logp = F.log_softmax(out.logits[0].float(), dim=-1)
    token_logp = logp.gather(-1, torch.tensor(targets)[:, None]).squeeze(-1)
    return list(token_logp.split([len(c) for c in completion_ids]))


def _common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest prefix all rows share, leaving each at least one token."""
    n = min(len(r) for r in rows) - 1
    for i in range(max(n, 0)):
        if any(r[i] != rows[0][i] for r in rows):
            return i
    return max(n, 0)


def _tree_mask(segment: Tensor, parent: list[int]) -> Tensor:
    """(T, T) bool: token q sees token k when k's segment is q's or one of its ancestors,
    and k comes no later than q (ancestors always sit earlier in the packed row)."""
    n = len(parent)
    sees = torch.eye(n, dtype=torch.bool)
    for s in range(1, n):                       # parents precede children, so one pass
        sees[s] |= sees[parent[s]]
    t = len(segment)
    return sees[segment[:, None], segment[None, :]] & torch.ones(t, t, dtype=torch.bool).tril()


class HFLM:
    """A Hugging Face causal LM (optionally with a PEFT adapter) behind the `LM` interface."""

    def __init__(self, model: Any, tokenizer: Any, name: str, chat: bool | None = None,
                 batch_size: int = 32) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.chat = bool(getattr(tokenizer, "chat_template", None)) if chat is None else chat
        self.batch_size = batch_size
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    @property
    def eos_ids(self) -> set[int]:
        ids = {int(self.tokenizer.eos_token_id)}
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if gen_eos is not None:
            ids |= set(gen_eos if isinstance(gen_eos, list) else [gen_eos])
        return ids

    def format(self, prompt: Prompt) -> str:
        """The exact text the model sees: chat template for chat models, else raw text."""
        if self.chat:
            return self.tokenizer.apply_chat_template(
                as_messages(prompt), tokenize=False, add_generation_prompt=True)
        if not isinstance(prompt, str):
            return "\n".join(m["content"] for m in prompt)
        return prompt

    def encode(self, prompts: Sequence[Prompt]) -> list[list[int]]:
        texts = [self.format(p) for p in prompts]
        return [self.tokenizer(t, add_special_tokens=not self.chat)["input_ids"] for t in texts]

    def encode_completions(self, completions: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in completions]

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None,
                 ) -> list[Completion]:
        params = params or SamplingParams()
        expanded = [p for p in prompts for _ in range(params.n)]
        encoded = self.encode(expanded)
        generator = torch.Generator().manual_seed(params.seed) if params.seed is not None else None
        # Sort by length so each batch pads little; restore the order afterwards.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        results: dict[int, tuple[list[int], list[float]]] = {}
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            outs = decode(self.model, [encoded[i] for i in chunk], params, self.eos_ids,
                          self.pad_id, generator)
            results.update(zip(chunk, outs, strict=True))
        return [self._completion(expanded[i], *results[i], params) for i in range(len(expanded))]

    def _completion(self, prompt: Prompt, ids: list[int], logps: list[float],
                    params: SamplingParams) -> Completion:
        ended = bool(ids) and ids[-1] in self.eos_ids
        if ended:
            ids, logps = ids[:-1], logps[:-1]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        text, stopped = cut_at_stop(text, params.stop)
        reason = "stop" if ended or stopped else "length"
        return Completion(prompt, text, ids, logps, reason)

    @torch.no_grad()
    def logprobs(self, prompts: Sequence[Prompt], completions: Sequence[str]) -> list[list[float]]:
        """Per-token log-probs of each completion. Rows are packed `batch_size` at a time,
        so neighbouring rows that share a prompt (or a chat template's system turn) pay
        for it once."""
        prompt_ids = self.encode(prompts)
        completion_ids = self.encode_completions(completions)
        out: list[list[float]] = []
        for s in range(0, len(prompt_ids), self.batch_size):
            lps = packed_logprobs(self.model, prompt_ids[s:s + self.batch_size],
                                  completion_ids[s:s + self.batch_size])
            out.extend(lp.tolist() for lp in lps)
        return out

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def load_hf(path_or_id: str, adapter: str | None = None, name: str | None = None,
            dtype: torch.dtype = torch.float32, **kwargs: Any) -> HFLM:
    """Load a local directory or hub id (hub only when the user names one), plus an adapter."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a bar for a 1-second load is noise
    tokenizer = AutoTokenizer.from_pretrained(path_or_id)
    model: Any = AutoModelForCausalLM.from_pretrained(path_or_id, dtype=dtype)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    return HFLM(model, tokenizer, name or path_or_id, **kwargs)
