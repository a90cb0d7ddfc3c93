"""The improvement loop: a git workspace, generators, a separate evaluator, and a journal."""
