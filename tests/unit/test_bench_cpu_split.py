"""The bench's CPU split: what each part of the hub spent per delivery over a phase."""

from __future__ import annotations

import os

from bench.cpu_split import parts_of, per_delivery, snapshot


def test_each_part_gets_its_own_milliseconds_per_delivery_largest_first_with_their_total() -> None:
    before = {"ingress": 10.0, "timeline": 4.0, "postgres": 1.0, "kafka": 2.0}
    after = {"ingress": 12.0, "timeline": 5.0, "postgres": 1.5, "kafka": 2.0}

    split = per_delivery(before, after, 1000)

    assert list(split) == ["ingress", "timeline", "postgres", "kafka", "total"]
    assert split == {"ingress": 2.0, "timeline": 1.0, "postgres": 0.5, "kafka": 0.0, "total": 3.5}


def test_a_part_restarted_during_the_phase_counts_nothing_rather_than_a_negative_share() -> None:
    assert per_delivery({"media": 9.0}, {"media": 1.0}, 10) == {"media": 0.0, "total": 0.0}
    assert per_delivery({"media": 1.0}, {"media": 2.0}, 0) == {}


def test_a_snapshot_reads_running_processes_and_counts_a_part_that_is_not_running_as_zero() -> None:
    parts = parts_of([("this test", os.getpid()), ("stopped", None)], kafka=None, postgres=None)

    taken = snapshot(parts)

    assert set(taken) == {"this test", "stopped", "kafka", "postgres"}
    assert taken["this test"] > 0 and taken["stopped"] == taken["kafka"] == 0.0
