"""Run matching agents over in-memory queues to a final matching, deterministically.

One FIFO queue carries every Outgoing in the order agents emitted them; "nothing in
flight" is the queue being empty, which is when this driver sends RoundDone(phase=1) to
the workers and, after their announcements, Turn(idle=0) to the first source. The same
agents run over ZeroMQ in `fognet/peer/` and over the simulator's event queue in `sim/`.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from fognet.errors import InstanceError
from fognet.matching.agent import SourceAgent, WorkerAgent
from fognet.matching.instance import Instance, PeerId, SubtaskId
from fognet.matching.messages import Outgoing, RoundDone, Turn

DRIVER = PeerId("driver")


@dataclass(frozen=True)
class LocalRun:
    assignment: dict[SubtaskId, PeerId]
    phase1: dict[SubtaskId, PeerId]
    messages: int
    by_type: dict[str, int]
    steps_asked: int
    commits: int


def run_local(instance: Instance, rule: str | None = None, max_messages: int = 2_000_000) -> LocalRun:
    """All parties of the instance as agents, driven to the end of phase 2."""
    ring = instance.sources
    sources = {p: SourceAgent(instance, p, ring, rule) for p in ring}
    workers = {w.id: WorkerAgent(instance, w.id) for w in instance.workers}
    agents: dict[PeerId, SourceAgent | WorkerAgent] = {**workers, **sources}
    queue: deque[Outgoing] = deque()
    for p in [*workers, *ring]:
        queue.extend(agents[p].start())
    counts: Counter[str] = Counter()
    stage = 1
    phase1: dict[SubtaskId, PeerId] = {}
    while not all(a.done for a in agents.values()):
        if not queue:
            if stage == 1:
                for src in sources.values():
                    phase1.update(src.placement())
                queue.extend(Outgoing(w, RoundDone(DRIVER, 1)) for w in workers)
            elif stage == 2:
                queue.append(Outgoing(ring[0], Turn(DRIVER, 0)))
            else:
                raise InstanceError("matching agents went quiet before the game ended")
            stage += 1
            continue
        out = queue.popleft()
        counts[type(out.message).__name__] += 1
        if sum(counts.values()) > max_messages:
            raise InstanceError(f"matching agents exceeded {max_messages} messages")
        queue.extend(agents[out.to].handle(out.message))
    assignment: dict[SubtaskId, PeerId] = {}
    for src in sources.values():
        assignment.update(src.placement())
    return LocalRun(
        assignment=dict(sorted(assignment.items())),
        phase1=dict(sorted(phase1.items())),
        messages=sum(counts.values()),
        by_type=dict(sorted(counts.items())),
        steps_asked=sum(s.steps for s in sources.values()),
        commits=sum(s.commits for s in sources.values()),
    )
