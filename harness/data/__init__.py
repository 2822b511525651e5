"""Datasets: embedded and real loaders, splits, adaptation rules, content manifests."""
