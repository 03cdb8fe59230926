"""The peer daemon: what every device runs, whether it is a source, a worker or both.

device       the device a peer plays: a profile or cluster file made into its config, pacer, link hook
membership   HELLO/STATE heartbeats; dead after 3 missed; one live peer per name
store        content-addressed model files under FOGNET_CACHE, sha256-verified; check_model gates them
fetch        a missing model fetched from the peer that asked for it, within the size cap
executor     onnxruntime sessions per (model, node range, slice), one worker thread
backlog      the work a peer holds, split by the source each job is for (STATE's q_p)
admission    whether a worker takes one more subtask: its utilisation cap, a bounded queue (BUSY)
chain        the chain data flow, worker side: run my stage, hand the result to the next
remote       a source's side of EXEC: a subtask sent to another peer, and the bytes it took
lru          the byte-bounded LRU that keeps the executor's models and sessions bounded
slicing      the two ends of a spatial stage (split with halo, crop, merge)
trust        a closed peer's checks at start, its open-mode warning, whom beacons may introduce
node         the Peer: transport, membership, discovery, matchmaker and handlers in one TaskGroup
match/       the live matching game (DINA-O over ZeroMQ; the pure agents are in fognet.matching)
"""
