"""Sequence models over token ids: recurrent networks and GPT-2 (built from its configuration, no weights).

Each reads (N, T) int64 tokens and classifies from the representation of the last position: the next
token for language modelling (num_classes = vocabulary) or a sentence label (e.g. SST-2).
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn


class RecurrentClassifier(nn.Module):
    """Embedding → stacked LSTM/GRU → linear readout of the last time step."""

    def __init__(
        self, vocab_size: int, num_classes: int, cell: str, num_layers: int, hidden_size: int, embed_dim: int
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(embed_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, tokens: Tensor) -> Tensor:
        out, _ = self.rnn(self.embedding(tokens))  # (N, T, hidden)
        return self.head(out[:, -1])


def build_rnn(
    vocab_size: int,
    seq_len: int,
    num_classes: int,
    cell: Literal["lstm", "gru"],
    num_layers: int,
    hidden_size: int,
    embed_dim: int,
) -> nn.Module:
    """LSTM or GRU classifier (PyTorch ``nn.LSTM``/``nn.GRU``)."""
    if cell not in ("lstm", "gru"):
        raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
    del seq_len  # recurrent: any length
    return RecurrentClassifier(vocab_size, num_classes, cell, num_layers, hidden_size, embed_dim)


class GPT2Classifier(nn.Module):
    """transformers' ``GPT2Model`` with a readout of the last position; the readout is tied to the token
    embedding when it predicts tokens (as GPT-2's language-model head is)."""

    def __init__(self, config, num_classes: int) -> None:
        super().__init__()
        from transformers import GPT2Model

        self.transformer = GPT2Model(config)
        self.head = nn.Linear(config.n_embd, num_classes, bias=False)
        if num_classes == config.vocab_size:
            self.head.weight = self.transformer.wte.weight

    def forward(self, tokens: Tensor) -> Tensor:
        hidden = self.transformer(input_ids=tokens).last_hidden_state  # (N, T, n_embd)
        return self.head(hidden[:, -1])


def build_gpt2(
    vocab_size: int,
    seq_len: int,
    num_classes: int,
    n_layer: int = 12,
    n_embd: int = 768,
    n_head: int = 12,
    n_positions: int = 1024,
) -> nn.Module:
    """GPT-2 from ``GPT2Config`` (defaults: GPT-2 small, 124M parameters with its 50,257-token vocabulary)."""
    from transformers import GPT2Config

    if seq_len > n_positions:
        raise ValueError(f"sequences of {seq_len} tokens exceed n_positions={n_positions}")
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=vocab_size - 1,
        eos_token_id=vocab_size - 1,
        attn_implementation="eager",
    )
    return GPT2Classifier(config, num_classes)
