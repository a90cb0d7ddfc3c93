"""Evaluation: prove an adapter is better than its base (or another adapter) before it is served."""
