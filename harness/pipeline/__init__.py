"""Generating dvc.yaml: selections, dependency scan, output paths, provenance."""
