"""Kazoe collector: stores counts from many nodes and serves the dashboard."""
