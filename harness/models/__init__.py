"""Architecture builders (small typed functions returning nn.Module)."""
