"""Real-time cost of the current period, and alerts."""
