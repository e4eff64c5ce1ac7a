"""Engines: the pipelines that turn validated parameters and a loaded model into images."""
