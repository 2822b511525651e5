"""Text as token sequences: an embedded character corpus, WikiText and SST-2, with byte-level tokens.

Samples are windows of ``seq_len`` token ids (int64); for language modelling the target is the token
that follows the window, for SST-2 the sentence's sentiment. Byte-level tokens (vocabulary 256) need no
downloaded tokenizer; the embedded corpus uses its own small alphabet.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from harness.data.arrays import ArrayDataset
from harness.data.errors import require_files


class SplitMix64:
    """A tiny PRNG (Steele et al. 2014) written out here so the corpus is identical on every machine and
    every numpy/Python version (their generators promise no stream stability across releases)."""

    MASK = (1 << 64) - 1

    def __init__(self, seed: int) -> None:
        self.state = seed & self.MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def choice(self, options: list[str]) -> str:
        return options[self.next() % len(options)]


NOUNS = ["cat", "dog", "bird", "fox", "child", "robot", "river", "garden", "teacher", "engine"]
VERBS = ["sees", "follows", "likes", "finds", "hears", "builds", "helps", "paints"]
ADJECTIVES = ["small", "red", "quiet", "old", "bright", "lazy", "clever"]
ALPHABET = " .abcdefghijklmnopqrstuvwxyz"
"""The corpus's characters; token id = index in this string."""


def _noun_phrase(rng: SplitMix64, depth: int) -> str:
    words = ["the"]
    if rng.next() % 2:
        words.append(rng.choice(ADJECTIVES))
    words.append(rng.choice(NOUNS))
    if depth < 2 and rng.next() % 4 == 0:  # a relative clause: long-range agreement to learn
        words += ["that", rng.choice(VERBS), _noun_phrase(rng, depth + 1)]
    return " ".join(words)


def generate_corpus(n_sentences: int, seed: int) -> str:
    """Sentences of a small stochastic grammar: NP VP ., with optional adjectives and relative clauses."""
    rng = SplitMix64(seed)
    return " ".join(
        f"{_noun_phrase(rng, 0)} {rng.choice(VERBS)} {_noun_phrase(rng, 0)}." for _ in range(n_sentences)
    )


def next_token_windows(tokens: np.ndarray, seq_len: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(windows (N, seq_len), next token (N,)) from a 1-D token stream."""
    starts = np.arange(0, len(tokens) - seq_len, stride)
    windows = tokens[starts[:, None] + np.arange(seq_len)[None, :]]
    return windows.astype(np.int64), tokens[starts + seq_len].astype(np.int64)


def load_char_corpus(n_sentences: int, seed: int, seq_len: int, stride: int, sha256: str) -> ArrayDataset:
    """Next-character prediction on the generated corpus; refuses a corpus whose hash differs from the
    one pinned in the registry (the corpus must be identical everywhere)."""
    text = generate_corpus(n_sentences, seed)
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest != sha256:
        raise ValueError(f"generated corpus sha256 {digest} differs from the registry's pinned {sha256}")
    lookup = np.full(128, -1, dtype=np.int64)
    lookup[[ord(c) for c in ALPHABET]] = np.arange(len(ALPHABET))
    tokens = lookup[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    return ArrayDataset(*next_token_windows(tokens, seq_len, stride))


WIKITEXT_FILES = ["wiki.train.raw", "wiki.valid.raw", "wiki.test.raw"]


def load_wikitext(root: str | Path, seq_len: int, stride: int) -> ArrayDataset:
    """WikiText-2/103 raw (Merity et al. 2016), byte-level next-token windows. The official test file is
    the test split; train and validation files are pooled and the entry's split carves validation."""
    folder = require_files("wikitext", Path(root), WIKITEXT_FILES)
    parts = []
    for name in WIKITEXT_FILES:
        tokens = np.frombuffer((folder / name).read_bytes(), dtype=np.uint8)
        parts.append(next_token_windows(tokens, seq_len, stride))
    test = np.zeros(sum(len(p[1]) for p in parts), dtype=bool)
    test[-len(parts[-1][1]) :] = True
    return ArrayDataset(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), test)


SST2_FILES = ["train.tsv", "dev.tsv"]


def _read_sst2(path: Path, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != ["sentence", "label"]:
        raise ValueError(f"{path}: expected the GLUE SST-2 header 'sentence<TAB>label'")
    tokens = np.zeros((len(lines) - 1, seq_len), dtype=np.int64)  # 0 pads (byte 0 never occurs in text)
    labels = np.empty(len(lines) - 1, dtype=np.int64)
    for i, line in enumerate(lines[1:]):
        sentence, label = line.rsplit("\t", 1)
        raw = np.frombuffer(sentence.encode("utf-8")[:seq_len], dtype=np.uint8)
        tokens[i, : len(raw)] = raw
        labels[i] = int(label)
    return tokens, labels


def load_sst2(root: str | Path, seq_len: int) -> ArrayDataset:
    """GLUE SST-2 (Socher et al. 2013): sentences as byte tokens, truncated/zero-padded to ``seq_len``,
    binary sentiment. GLUE's test labels are not public, so ``dev.tsv`` is the test split."""
    folder = require_files("sst2", Path(root), SST2_FILES)
    train, dev = _read_sst2(folder / "train.tsv", seq_len), _read_sst2(folder / "dev.tsv", seq_len)
    test = np.r_[np.zeros(len(train[1]), bool), np.ones(len(dev[1]), bool)]
    return ArrayDataset(np.concatenate([train[0], dev[0]]), np.concatenate([train[1], dev[1]]), test)
