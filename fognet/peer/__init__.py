"""The peer daemon: membership, executor, matching agent, requester."""
