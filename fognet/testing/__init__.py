"""Harnesses for tests and benchmarks, not used by fognet itself.

live_match   live peers in one process, each with its own transport, playing matching rounds
fuzz         hostile messages (seeded), dead loopback addresses, and a raw DEALER that blasts them at a peer
"""
