"""Training methods, one self-contained file each: sft, reward (+ensembles), bon, ppo,
grpo (GRPO and RLOO), dpo (sigmoid and IPO); `fits` holds Gao et al.'s functional forms.

Every trainer takes an `alignlab.models.hf.HFLM` (any Hugging Face causal LM), accepts an
optional LoRA rank, and logs KL to the initial policy at every step.
"""
