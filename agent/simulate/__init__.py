"""A simulated week of nights: a community on a fake clock, the real nightly pipeline, a hidden holdout."""
