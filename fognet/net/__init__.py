"""Networking at the edge: wire codec, ZeroMQ transport, discovery, link emulation."""
