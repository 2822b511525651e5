"""Graph neural networks for node classification (torch-geometric GCN and GAT layers).

A builder returns a network of ``(x, edge_index)``; ``NodeClassifier`` binds it to one graph so the
shared training loop can treat nodes as samples: ``model(node_ids) -> logits of those nodes``.
"""

from __future__ import annotations

import itertools

from torch import Tensor, nn


class GNN(nn.Module):
    """Message-passing layers with ELU and dropout between them; the last layer emits class logits."""

    def __init__(self, layers: list[nn.Module], dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.act = nn.ELU()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(self.dropout(x), edge_index)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return x


def build_gcn(
    in_features: int, num_classes: int, hidden: int, num_layers: int = 2, dropout: float = 0.5
) -> nn.Module:
    """GCN (Kipf & Welling 2017): symmetric-normalized graph convolutions with self-loops."""
    from torch_geometric.nn import GCNConv

    sizes = [in_features] + [hidden] * (num_layers - 1) + [num_classes]
    return GNN([GCNConv(a, b) for a, b in itertools.pairwise(sizes)], dropout)


def build_gat(
    in_features: int, num_classes: int, hidden: int, heads: int = 8, num_layers: int = 2, dropout: float = 0.6
) -> nn.Module:
    """GAT (Velickovic et al. 2018): ``heads`` concatenated attention heads per hidden layer, one averaged
    head at the output."""
    from torch_geometric.nn import GATConv

    layers: list[nn.Module] = []
    width = in_features
    for _ in range(num_layers - 1):
        layers.append(GATConv(width, hidden, heads=heads, dropout=dropout))
        width = hidden * heads
    layers.append(GATConv(width, num_classes, heads=1, concat=False, dropout=dropout))
    return GNN(layers, dropout)


class NodeClassifier(nn.Module):
    """A graph network bound to one graph: ``forward(node_ids)`` runs the whole graph (full-batch message
    passing) and returns the logits of the requested nodes, shape (len(node_ids), C)."""

    def __init__(self, gnn: nn.Module, x: Tensor, edge_index: Tensor) -> None:
        super().__init__()
        self.gnn = gnn
        self.register_buffer("x", x)
        self.register_buffer("edge_index", edge_index)

    def forward(self, node_ids: Tensor) -> Tensor:
        return self.gnn(self.x, self.edge_index)[node_ids.reshape(-1)]
