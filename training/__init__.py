"""Offline jobs: import events, train and evaluate models, publish bundles."""
