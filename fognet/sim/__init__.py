"""Discrete-event simulator and baselines, built on the same planner and game as the peers."""
