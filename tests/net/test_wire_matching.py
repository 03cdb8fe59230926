"""The live matching round's wire bodies: round trips, and the checks types cannot make."""

from __future__ import annotations

from dataclasses import replace

import msgpack
import pytest

from fognet.errors import WireError
from fognet.matching import messages as m
from fognet.matching.instance import Subtask
from fognet.net import codec, wire
from fognet.net.wire import Header
from fognet.peer.match import wire_bodies

S1 = Subtask("car1.t1", "car1", 0.03, 602112, 4000, stage=2)
S2 = Subtask("car2.t1", "car2", 0.01, 1000, 20)
STEP = (m.Change(S1, "car1", "w1#w"), m.Change(S2, "w1#w", "car2"))


@pytest.mark.parametrize("msg", [
    m.Propose("car1", S1),
    m.Reject("w1#w", "car1.t1", m.Reason.OUT_OF_REACH),
    m.SwapAsk("car1", 4, "displace", STEP),
    m.SwapCommit("car1", 4, "displace", STEP),
    m.SwapAbort("car1", 4),
    m.Turn("car1", 2),
    m.RoundDone("w1#w", 1, (S1, S2)),
    m.RoundDone("car1", 2),
])
def test_agent_messages_survive_the_wire(msg) -> None:
    frames = codec.encode(Header(wire_bodies.to_wire(3, msg, party="w1#w"), sender="x"))
    header, _ = codec.decode(frames)
    sender = msg.sender.removesuffix("#w")
    assert wire_bodies.from_wire(sender, header.body) == type(msg)(**{**msg.__dict__, "round": 3})


def test_votes_keep_their_split_by_source() -> None:
    vote = m.SwapVote("w1#w", 4, True, -0.25, (("car1", -0.3), ("car2", 0.05)))
    header, _ = codec.decode(codec.encode(Header(wire_bodies.to_wire(3, vote))))
    assert wire_bodies.vote_from_wire("w1#w", header.body) == m.SwapVote(
        "w1#w", 4, True, -0.25, (("car1", -0.3), ("car2", 0.05)), None, 3)


def test_every_game_reason_crosses_the_wire_by_its_own_name() -> None:
    for reason in m.Reason:
        msg = m.Reject("w1#w", "car1.t1", reason)
        header, _ = codec.decode(codec.encode(Header(wire_bodies.to_wire(3, msg))))
        assert header.body.reason.value == reason.value == reason.name
        assert wire_bodies.from_wire("w1", header.body) == m.Reject("w1#w", "car1.t1", reason, 3)


def test_a_reason_the_game_does_not_give_is_malformed_in_a_reject_or_vote() -> None:
    with pytest.raises(WireError, match="HANDLER_FAILED is not a matching game reason"):
        wire_bodies.from_wire("w1", wire.Reject(3, "car1.t1", wire.Reason.HANDLER_FAILED))
    with pytest.raises(WireError, match="NOT_FOUND is not a matching game reason"):
        wire_bodies.vote_from_wire("w1#w", wire.StepVote(3, 4, False, reason=wire.Reason.NOT_FOUND))


def test_step_ids_are_ints_in_every_step_message() -> None:
    for body in wire.StepAsk, wire.StepVote, wire.StepCommit, wire.StepAbort:
        assert body.__annotations__["step"] == "int", body
    with pytest.raises(WireError, match="step"):
        codec.decode(_raw("STEP_ABORT", round=1, step="4"))


def _raw(msg_type: str, /, **fields) -> list[bytes]:
    return [msgpack.packb({"v": 1, "type": msg_type, "id": 1, "from": "x", "tensors": [], **fields})]


@pytest.mark.parametrize("frames", [
    _raw("HOSTED", round=1, subtasks=["a"], sources=[], work_ref_s=[0.1], in_bytes=[1],
         out_bytes=[1]),
    _raw("STEP_VOTE", round=1, step=1, ok=True, by_source=["car1"], by_source_delta_s=[]),
    _raw("ROUND_OPEN", round=1, budget_s=1.0, roster=["a", "b"], addresses=["h:1"]),
    _raw("ROUND_OPEN", round=1, budget_s=1.0, roster=["a"], addresses=["h:1"], latest=2**64 - 1),
    _raw("ROUND_OPEN", round=2**63, budget_s=1.0, roster=["a"], addresses=["h:1"]),
    _raw("ROUND_OPEN", round=-1, budget_s=1.0, roster=["a"], addresses=["h:1"]),
    _raw("TURN", round=1, idle="0"),
])
def test_malformed_bodies_are_wire_errors(frames) -> None:
    with pytest.raises(WireError):
        codec.decode(frames)


def test_bad_figures_are_refused_after_decoding() -> None:
    body = wire.StepAsk(1, 1, "teleport", "w1#w", ("a",), ("car1",), (0.1,), (1,), (1,),
                        ("car1",), ("w1#w",), (0,))
    with pytest.raises(WireError, match="kind"):
        wire_bodies.from_wire("car1", body)
    body = wire.Propose(1, "a", "car1", float("nan"), 1, 1)
    with pytest.raises(WireError, match="work"):
        wire_bodies.from_wire("car1", body)
    with pytest.raises(WireError, match="stage must be >= 0"):
        wire_bodies.from_wire("car1", wire.Propose(1, "a", "car1", 0.1, 1, 1, -1))
    with pytest.raises(WireError, match="PROPOSE from"):
        wire_bodies.from_wire("car2", wire.Propose(1, "a", "car1", 0.1, 1, 1))


def _decoded(body: wire.Body) -> wire.Body:
    return codec.decode(codec.encode(Header(body, sender="x")))[0].body


def test_a_batch_of_commits_crosses_the_wire_in_order() -> None:
    commits = [m.SwapCommit("car1", 4, "displace", STEP),
               m.SwapCommit("car1", 6, "move", (m.Change(S2, "car2", "w2#w"),))]
    body = _decoded(wire_bodies.commits_to_wire(3, commits))
    assert (body.steps, body.kinds, body.sizes) == ((4, 6), ("displace", "move"), (2, 1))
    assert wire_bodies.commits_from_wire("car1", body) == [
        m.SwapCommit("car1", c.step, c.kind, c.changes, 3) for c in commits]
    one = _decoded(wire_bodies.commits_to_wire(3, commits[:1]))  # one commit: no batch
    assert one.sizes == () and wire_bodies.commits_from_wire("car1", one) == [
        m.SwapCommit("car1", 4, "displace", STEP, 3)]


@pytest.mark.parametrize("frames", [
    _raw("STEP_COMMIT", round=1, step=1, kind="move", subtasks=["a", "b"], sources=["c", "c"],
         work_ref_s=[0.1, 0.1], in_bytes=[1, 1], out_bytes=[1, 1], frm=["c", "c"],
         to=["w#w", "w#w"], stages=[0, 0], steps=[1, 2], kinds=["move", "move"], sizes=[1, 2]),
    _raw("STEP_COMMIT", round=1, step=1, kind="move", subtasks=["a"], sources=["c"],
         work_ref_s=[0.1], in_bytes=[1], out_bytes=[1], frm=["c"], to=["w#w"], stages=[0],
         steps=[1, 2], kinds=["move", "move"], sizes=[1, 0]),
    _raw("HOSTED", round=1, subtasks=["a"], sources=["c"], work_ref_s=[0.1], in_bytes=[1],
         out_bytes=[1], stages=[0], home=True, sites=["c", "w#w"]),
    _raw("ROUND_OPEN", round=1, budget_s=1.0, roster=["a", "b"], addresses=["h:1", "h:2"],
         p_speed=[1.0]),
])
def test_malformed_batches_placements_and_players_are_wire_errors(frames) -> None:
    with pytest.raises(WireError):
        codec.decode(frames)


def test_a_batch_naming_an_unknown_kind_is_refused() -> None:
    body = wire_bodies.commits_to_wire(3, [m.SwapCommit("car1", 4, "displace", STEP)] * 2)
    with pytest.raises(WireError, match="kind"):
        wire_bodies.commits_from_wire("car1", replace(body, kinds=("displace", "teleport")))


def test_a_placement_gives_each_subtask_its_site() -> None:
    s3 = Subtask("car1.t2", "car1", 0.02, 10, 10)
    body = _decoded(wire_bodies.placement_to_wire(3, "car1", [S1, s3],
                                                  {S1.id: "w1#w", s3.id: "car1"}))
    placed = wire_bodies.placement_from_wire("car1", body)
    assert {(r.sender, r.hosted) for r in placed} == {("w1#w", (S1,)), ("car1", (s3,))}
    with pytest.raises(WireError, match="not a site"):
        wire_bodies.placement_from_wire("car1", replace(body, sites=("w1", "car1")))
    with pytest.raises(WireError, match="another source"):
        wire_bodies.placement_from_wire("car2", body)
