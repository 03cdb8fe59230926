"""Every error fognet raises on purpose, as one tree, so callers can catch by meaning.

    FognetError                 base: the CLI prints "TypeName: message" and exits 2
     +-- ModelError             a model cannot be found, read, or used as asked
     |    +-- DynamicShapeError an input has symbolic dimensions and no --input-shape
     +-- PartitionError         a split or cut that the graph does not allow
     +-- PlanError              no valid plan for the model on the cluster
     +-- InstanceError          a matching instance or matching that is malformed
     +-- ConfigError            a peer profile, cluster or scenario file is malformed
     +-- FrameError             a frame source cannot be opened or a frame decoded
     |    +-- DatasetError      a path is no dataset layout fognet reads, or its index
     |                          files (labels JSON, CSV, timestamps) are malformed
     +-- WireError              a network message that breaks the protocol
     +-- PeerError              a remote peer failed a request
          +-- PeerUnreachable   no answer within the timeout, or the peer is dead
          +-- RemoteError       the peer answered ERROR with a reason (net/base.py: it
                                carries the wire's Reason enum)

Low-level exceptions (OSError, zmq.ZMQError, onnx errors) are turned into these at the
module that sees them, with `raise ... from`, and with a message a user can act on.
"""

from __future__ import annotations


class FognetError(Exception):
    """Base of every error fognet raises on purpose."""


class ModelError(FognetError):
    """A model cannot be found, read, or used as asked."""


class DynamicShapeError(ModelError):
    """A model input has symbolic dimensions and no concrete shape was given."""


class PartitionError(FognetError):
    """A split or cut that the model's graph does not allow."""


class PlanError(FognetError):
    """No valid plan exists for this model on this cluster."""


class InstanceError(FognetError):
    """A matching instance (or a matching to check) is malformed."""


class ConfigError(FognetError):
    """A peer profile, cluster file or scenario file is malformed."""


class FrameError(FognetError):
    """A frame source cannot be opened or one of its frames cannot be decoded."""


class DatasetError(FrameError):
    """A path is not a dataset layout fognet can read, or its index files are malformed."""


class WireError(FognetError):
    """A network message breaks the protocol (bad header, size, version)."""


class PeerError(FognetError):
    """A remote peer failed a request and said why."""


class PeerUnreachable(PeerError):
    """A peer did not answer within the timeout, or is marked dead."""
