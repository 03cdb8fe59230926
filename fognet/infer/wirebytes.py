"""What the requester needs to know about frames that travel as uint8 pixels.

A frame may sit in a requester's tensors as `data.source.Pixels` (the camera's bytes, to
be normalised where the first stage runs). A spatial first stage sends each slice its
input rows: those are the rows of the pixels, cut by the same rule as any input
(`partition.spatial_slices.split_inputs`), still pixels. And a subtask's bytes, which
calibrate the link, are the bytes that went on the wire (uint8 frames, float16 or LZ4
activations), not the size of the arrays they decode to.

API
    slice_inputs(tensors, spec) -> {name: ndarray | Pixels}    a slice's input rows
    wire_bytes(job, result) -> (in_bytes, out_bytes)            as sent, else as held
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from fognet.data.source import Pixels
from fognet.partition.spatial_slices import SliceSpec, split_inputs
from fognet.peer.executor import Job, JobResult
from fognet.peer.remote import held_bytes


def slice_inputs(tensors: Mapping[str, object], spec: SliceSpec) -> dict[str, object]:
    """The rows of each input a slice reads; a uint8 frame's rows stay a uint8 frame."""
    frames = {name: v for name, v in tensors.items() if isinstance(v, Pixels)}
    arrays = {name: (v.data if name in frames else v) for name, v in tensors.items()}
    rows = split_inputs(arrays, spec)
    return {name: replace(frames[name], data=a) if name in frames else a for name, a in rows.items()}


def wire_bytes(job: Job, result: JobResult) -> tuple[int, int]:
    """(in, out) bytes of a subtask on the wire when its runner says (`Peer.run_subtask` to
    another peer always does), else as held (`peer.remote.held_bytes`, counted only then)."""
    sent_in = result.in_wire_bytes if result.in_wire_bytes >= 0 else held_bytes(job.tensors)
    sent_out = result.out_wire_bytes if result.out_wire_bytes >= 0 else held_bytes(result.outputs)
    return sent_in, sent_out
