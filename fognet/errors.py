"""Every error fognet raises on purpose, as one tree, so callers can catch by meaning.

    FognetError                 base: the CLI prints "TypeName: message" and exits 2
     +-- ModelError             a model cannot be found, read, or used as asked
     |    +-- ModelRefused      a model from the network a peer will not take         .reason
     |    +-- DynamicShapeError an input has symbolic dimensions and no --input-shape
     +-- PartitionError         a split or cut that the graph does not allow
     +-- PlanError              no valid plan for the model on the cluster
     +-- InstanceError          a matching instance or matching that is malformed
     +-- ConfigError            a peer profile, cluster, scenario or simulator setting is malformed
     +-- FrameError             a frame source cannot be opened or a frame decoded
     |    +-- DatasetError      a path is no dataset layout fognet reads, or its index
     |                          files (labels JSON, CSV, timestamps) are malformed
     +-- FrameSkipped           a frame the source did not send: it would have started more
     |                          than its max lag after it arrived (the cluster is overloaded)
     +-- NotApplicable          a simulated approach cannot run on this scenario (recorded, not fatal)
     +-- WireError              a network message that breaks the protocol       .reason
     +-- Refused                a well-formed message the receiver will not act on .reason
     +-- PeerError              a remote peer failed a request
          +-- PeerUnreachable   no answer within the timeout, or the peer is dead
          +-- RemoteError       the peer answered ERROR                          .reason
          +-- SubtaskFailed     one subtask of a frame failed on a peer; the frame is
                                replayed elsewhere (fognet.infer.replay)     .peer .busy

`.reason` is the wire's `fognet.net.wire.Reason`. A handler that raises WireError or
Refused gets an ERROR reply with that reason (`fognet.net.base.error_header`), which the
requester's transport raises as RemoteError with the same reason; any other exception
becomes HANDLER_FAILED. A WireError's reason is MALFORMED unless the codec says VERSION,
TOO_LARGE or UNSUPPORTED (an unknown type); a Refused always names its reason (NOT_FOUND,
STALE_ROUND, UNSUPPORTED, ...): the peer is sane, the request just cannot be served.

Low-level exceptions (OSError, zmq.ZMQError, onnx errors) are turned into these at the
module that sees them, with `raise ... from`, and with a message a user can act on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the wire schema imports this module: no runtime import back
    from fognet.net.wire import Reason


class FognetError(Exception):
    """Base of every error fognet raises on purpose."""


class ModelError(FognetError):
    """A model cannot be found, read, or used as asked."""


class ModelRefused(ModelError):
    """A model from the network that a peer will not take (too large, not ONNX, external data,
    fails onnx.checker): the request was well formed, so the ERROR reply carries `reason`."""

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message)
        self.reason = reason


class DynamicShapeError(ModelError):
    """A model input has symbolic dimensions and no concrete shape was given."""


class PartitionError(FognetError):
    """A split or cut that the model's graph does not allow."""


class PlanError(FognetError):
    """No valid plan exists for this model on this cluster."""


class InstanceError(FognetError):
    """A matching instance (or a matching to check) is malformed."""


class ConfigError(FognetError):
    """A peer profile, cluster file, scenario file or simulator setting is malformed."""


class FrameError(FognetError):
    """A frame source cannot be opened or one of its frames cannot be decoded."""


class DatasetError(FrameError):
    """A path is not a dataset layout fognet can read, or its index files are malformed."""


class FrameSkipped(FognetError):
    """A frame the source did not send because it would have started more than its max lag
    after it arrived: the cluster serves fewer frames than arrive, and a camera keeps its
    latency bounded by skipping the stale frames rather than queueing them without end."""


class NotApplicable(FognetError):
    """A simulated approach cannot run on this scenario (the optimum on a large instance):
    the experiment records it as not applicable and goes on with the other approaches."""


class WireError(FognetError):
    """A network message breaks the protocol (bad header or field, size, version, type).

    `reason` is what the ERROR reply for it says: None means MALFORMED (the message is the
    bad field's name and what is wrong with it)."""

    def __init__(self, message: str, reason: Reason | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class Refused(FognetError):
    """A well-formed message the receiver will not act on (unknown model or round, a type
    it does not handle): not a protocol break, so it is not logged as a failure; the ERROR
    reply carries `reason`."""

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message)
        self.reason = reason


class PeerError(FognetError):
    """A remote peer failed a request and said why."""


class PeerUnreachable(PeerError):
    """A peer did not answer within the timeout, or is marked dead."""


class RemoteError(PeerError):
    """The peer answered ERROR; `reason` says why, the message gives the detail."""

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message)
        self.reason = reason


class SubtaskFailed(PeerError):
    """One subtask of a frame failed on `peer` (no answer in its timeout, the peer gone, or
    `busy`: it answered BUSY); the message says which subtask and after how long. The
    requester replays the frame on the survivors rather than failing it."""

    def __init__(self, message: str, peer: str, busy: bool = False) -> None:
        super().__init__(message)
        self.peer = peer
        self.busy = busy
