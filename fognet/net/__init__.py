"""Networking at the edge: wire codec, ZeroMQ transport, discovery, link emulation.

wire.py       the wire schema: PROTOCOL_VERSION, MsgType, Reason, Header and one body per type
columns.py    the parallel columns of bodies: their checks, the backlog split, the frozen roster's
encodings.py  how one tensor travels: raw, a uint8 frame, float16 or LZ4
codec.py      encode(header, tensors) -> frames, decode(frames) -> (header, tensors); the only validator
base.py       the Transport interface, its counters, the serve loop and ERROR replies every transport shares
transport.py  ZmqTransport: one ROUTER to serve, a DEALER per remote peer
zmqio.py      LoopSocket: a ZeroMQ socket the asyncio loop drives, no future per message
memory.py     MemoryTransport: the same interface over asyncio queues (tests, simulator)
discovery.py  BeaconDiscovery (UDP broadcast) and BootstrapDiscovery (HELLO to host:port), emit PeerSeen
emulation.py  Pacer: sender-side link and interface pacing on loopback
keys.py       CURVE key files (zmq.auth certificates) and the TOML allow-list that closes a cluster
auth.py       ZapHandler (only listed keys connect, named), the sender check, CURVE socket set-up
bounded.py    containers strangers can fill, each with a bound (a flood costs bounded memory)
ratelog.py    log lines the network can cause, at a bounded rate
inbound.py    InboundGuard: the TCP connections a ROUTER keeps, bounded (strangers cost bounded fds)
"""
