"""Report sections, one module per experiment."""
