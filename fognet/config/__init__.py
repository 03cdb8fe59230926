"""Files people write: read and checked here, one error per mistake naming the file and field.

At the bottom of fognet: imports nothing of fognet but `errors`, so the peers, `fognet infer`
and the simulator can all read the same files the same way.

toml       the one set of TOML field readers (Where names the place in a file)
profiles   device profiles: Profile, parse/load, where profile names are looked for
cluster    cluster files: PeerSpec, LinkSpec, Cluster, load_cluster
emulation  emulation settings: Emulation, what a run emulates, the time scale, its one line
peerfile   a device's `fognet peer --config FILE`: name, profile, bind, bootstrap, keys, allow-list...
"""
