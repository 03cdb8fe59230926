"""Plan keys: what makes two plans "the same plan" for caches and re-plan decisions."""

from __future__ import annotations

from fognet.partition.stages import Plan, Stage


def _plan(source: str, second: str, predicted: float) -> Plan:
    return Plan("sha", source, (Stage(0, 3, (source,), predicted_s=predicted),
                                Stage(3, 7, (second, source), rows=((0, 4), (4, 8)))), predicted_s=predicted)


def test_placement_ignores_predictions_but_not_sites() -> None:
    assert _plan("car1", "fog", 0.1).placement() == _plan("car1", "fog", 0.2).placement()
    assert _plan("car1", "fog", 0.1).placement() != _plan("car1", "laptop", 0.1).placement()
    assert _plan("car1", "fog", 0.1).placement() == (
        (0, 3, ("car1",), None), (3, 7, ("fog", "car1"), ((0, 4), (4, 8))))


def test_anonymous_placement_equates_sources_of_one_kind() -> None:
    one, two = _plan("car1", "fog", 0.1), _plan("car2", "fog", 0.1)
    assert one.placement() != two.placement()
    assert one.placement(anonymous=True) == two.placement(anonymous=True)
    assert one.placement(anonymous=True)[1][2] == ("fog", "")


def test_cuts_are_where_the_model_is_cut_wherever_it_runs() -> None:
    assert _plan("car1", "fog", 0.1).cuts() == _plan("car2", "laptop", 0.3).cuts() == (
        (0, 3, None), (3, 7, ((0, 4), (4, 8))))
