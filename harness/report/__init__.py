"""The survey report: page assembly and one section module per experiment."""
