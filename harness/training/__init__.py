"""The shared training loop, its config, checkpoints and device handling."""
