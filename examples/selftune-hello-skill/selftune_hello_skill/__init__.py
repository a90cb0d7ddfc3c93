"""An example third-party selftune skill package."""
