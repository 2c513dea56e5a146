"""Reads of the real-time app: current cost, cost by resource or cost center, the cost timeline, alerts."""
