"""The guide's hand-written Flask server (no SDK), the baseline for compatibility and benchmarks."""
