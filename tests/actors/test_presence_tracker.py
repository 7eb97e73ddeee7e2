"""The pure presence tracker: Phoenix semantics, limits, snapshots, and client convergence."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost._errors import RoostError
from roost.actors._presence import (
    PresenceDiff,
    PresenceLimitError,
    PresenceTracker,
    merge_diffs,
)

State = dict[str, dict[str, list[dict[str, Any]]]]


def sync_diff(state: State, message: dict[str, Any]) -> None:
    """Apply a presence_diff message as the Phoenix JS client's ``syncDiff`` does."""
    assert message["type"] == "presence_diff"
    for key, presence in message["joins"].items():
        joined = copy.deepcopy(presence["metas"])
        joined_refs = {meta["ref"] for meta in joined}
        current = state.get(key, {"metas": []})["metas"]
        state[key] = {"metas": [m for m in current if m["ref"] not in joined_refs] + joined}
    for key, presence in message["leaves"].items():
        if key not in state:
            continue
        left_refs = {meta["ref"] for meta in presence["metas"]}
        state[key]["metas"] = [m for m in state[key]["metas"] if m["ref"] not in left_refs]
        if not state[key]["metas"]:
            del state[key]


def wire(diff: PresenceDiff) -> dict[str, Any]:
    """The diff's message as a client receives it, through JSON."""
    message: dict[str, Any] = json.loads(json.dumps(diff.as_message()))
    return message


# -- Phoenix semantics -----------------------------------------------------------------------


def test_track_joins_with_a_ref() -> None:
    tracker = PresenceTracker()
    diff = tracker.track("c1", "alice", {"name": "Alice"})
    assert diff == PresenceDiff(joins={"alice": {"metas": [{"name": "Alice", "ref": "1"}]}})
    assert not diff.is_empty
    assert diff.as_message() == {
        "type": "presence_diff",
        "joins": {"alice": {"metas": [{"name": "Alice", "ref": "1"}]}},
        "leaves": {},
    }
    assert tracker.state() == {"alice": {"metas": [{"name": "Alice", "ref": "1"}]}}
    assert len(tracker) == 1
    assert ("c1", "alice") in tracker
    assert ("c2", "alice") not in tracker
    assert "alice" not in tracker
    assert tracker.keys_of("c1") == ["alice"]
    assert tracker.keys_of("nobody") == []
    assert tracker.connections() == {"c1"}


def test_several_connections_of_one_key_give_several_metas_in_join_order() -> None:
    tracker = PresenceTracker()
    tracker.track("c1", "alice", {"device": "phone"})
    tracker.track("c2", "bob", {})
    diff = tracker.track("c3", "alice", {"device": "laptop"})
    assert diff.joins == {"alice": {"metas": [{"device": "laptop", "ref": "3"}]}}
    assert tracker.state() == {
        "alice": {"metas": [{"device": "phone", "ref": "1"}, {"device": "laptop", "ref": "3"}]},
        "bob": {"metas": [{"ref": "2"}]},
    }
    assert len(tracker) == 3
    assert tracker.connections() == {"c1", "c2", "c3"}
    assert repr(tracker) == "<PresenceTracker 3 presences, 2 keys, 3 connections>"


def test_one_connection_under_several_keys() -> None:
    tracker = PresenceTracker()
    tracker.track("c1", "room:a", {"x": 1})
    tracker.track("c1", "room:b", {"x": 2})
    assert tracker.keys_of("c1") == ["room:a", "room:b"]
    assert len(tracker) == 2
    assert tracker.connections() == {"c1"}


def test_update_is_a_leave_and_a_join_naming_the_previous_ref() -> None:
    tracker = PresenceTracker()
    tracker.track("c1", "alice", {"cursor": [0, 0]})
    tracker.track("c2", "alice", {"cursor": [5, 5]})
    diff = tracker.update("c1", "alice", {"cursor": [1, 2]})
    assert diff.leaves == {"alice": {"metas": [{"cursor": [0, 0], "ref": "1"}]}}
    assert diff.joins == {"alice": {"metas": [{"cursor": [1, 2], "ref": "3", "ref_prev": "1"}]}}
    # The new meta rejoins at the end, as a client applying the diff will have it.
    assert tracker.state() == {
        "alice": {
            "metas": [
                {"cursor": [5, 5], "ref": "2"},
                {"cursor": [1, 2], "ref": "3", "ref_prev": "1"},
            ]
        }
    }
    # A second update names the latest ref only.
    diff = tracker.update("c1", "alice", {"cursor": [3, 4]})
    assert diff.leaves["alice"]["metas"] == [{"cursor": [1, 2], "ref": "3", "ref_prev": "1"}]
    assert diff.joins["alice"]["metas"] == [{"cursor": [3, 4], "ref": "4", "ref_prev": "3"}]
    assert len(tracker) == 2


def test_tracking_twice_is_an_update() -> None:
    tracker = PresenceTracker()
    tracker.track("c1", "alice", {"v": 1})
    assert tracker.track("c1", "alice", {"v": 2}) == PresenceDiff(
        joins={"alice": {"metas": [{"v": 2, "ref": "2", "ref_prev": "1"}]}},
        leaves={"alice": {"metas": [{"v": 1, "ref": "1"}]}},
    )
    assert len(tracker) == 1


def test_update_of_an_untracked_presence_raises_key_error() -> None:
    tracker = PresenceTracker()
    tracker.track("c1", "alice", {})
    with pytest.raises(KeyError):
        tracker.update("c1", "bob", {})
    with pytest.raises(KeyError):
        tracker.update("c2", "alice", {})


def test_untrack_one_key() -> None:
    tracker = PresenceTracker()
    tracker.track("c1", "alice", {"a": 1})
    tracker.track("c1", "room", {})
    tracker.track("c2", "alice", {"a": 2})
    diff = tracker.untrack("c1", "alice")
    assert diff == PresenceDiff(leaves={"alice": {"metas": [{"a": 1, "ref": "1"}]}})
    assert diff.as_message()["joins"] == {}
    assert tracker.state() == {
        "room": {"metas": [{"ref": "2"}]},
        "alice": {"metas": [{"a": 2, "ref": "3"}]},
    }
    assert tracker.keys_of("c1") == ["room"]


def test_untrack_a_whole_connection() -> None:
    tracker = PresenceTracker()
    tracker.track("c1", "alice", {})
    tracker.track("c1", "room", {"r": True})
    tracker.track("c2", "room", {})
    diff = tracker.untrack("c1")
    assert diff.leaves == {
        "alice": {"metas": [{"ref": "1"}]},
        "room": {"metas": [{"r": True, "ref": "2"}]},
    }
    assert diff.joins == {}
    assert tracker.state() == {"room": {"metas": [{"ref": "3"}]}}
    assert tracker.connections() == {"c2"}
    assert tracker.keys_of("c1") == []
    assert len(tracker) == 1


def test_untracking_what_is_absent_gives_an_empty_diff() -> None:
    tracker = PresenceTracker()
    tracker.track("c1", "alice", {})
    for diff in (tracker.untrack("c2"), tracker.untrack("c1", "bob"), tracker.untrack("c2", "x")):
        assert diff.is_empty
        assert diff == PresenceDiff()
        assert diff.as_message() == {"type": "presence_diff", "joins": {}, "leaves": {}}
    assert len(tracker) == 1
    tracker.untrack("c1")
    assert tracker.untrack("c1").is_empty
    assert tracker.state() == {}
    assert len(tracker) == 0
    assert tracker.connections() == set()


def test_refs_are_never_reused() -> None:
    tracker = PresenceTracker()
    refs = []
    for i in range(20):
        refs.append(tracker.track("c", "k", {"i": i}).joins["k"]["metas"][0]["ref"])
        if i % 3 == 0:
            tracker.untrack("c")
    assert len(set(refs)) == len(refs)
    assert all(isinstance(ref, str) for ref in refs)


def test_the_tracker_keeps_its_own_copy_of_metas() -> None:
    tracker = PresenceTracker()
    meta = {"cursor": {"x": 1}}
    diff = tracker.track("c1", "alice", meta)
    meta["cursor"]["x"] = 99
    diff.joins["alice"]["metas"][0]["cursor"]["x"] = 98
    tracker.state()["alice"]["metas"][0]["cursor"]["x"] = 97
    assert tracker.state() == {"alice": {"metas": [{"cursor": {"x": 1}, "ref": "1"}]}}


def test_metas_go_through_json() -> None:
    tracker = PresenceTracker()
    tracker.track("c1", "k", {"t": (1, 2), "n": None, "s": "é"})
    assert tracker.state()["k"]["metas"] == [{"t": [1, 2], "n": None, "s": "é", "ref": "1"}]


@pytest.mark.parametrize(
    "meta",
    [
        ["not", "a", "dict"],
        "string",
        None,
        {"when": object()},
        {"nan": float("nan")},
        {"inf": float("inf")},
        {("tuple", "key"): 1},
        {"surrogate": "\ud800"},
    ],
)
def test_metas_must_be_json_dicts(meta: Any) -> None:
    tracker = PresenceTracker()
    with pytest.raises(TypeError):
        tracker.track("c1", "k", meta)
    tracker.track("c1", "k", {})
    with pytest.raises(TypeError):
        tracker.update("c1", "k", meta)
    # Refused metas take no ref.
    assert tracker.state() == {"k": {"metas": [{"ref": "1"}]}}


def test_circular_metas_are_refused() -> None:
    meta: dict[str, Any] = {}
    meta["self"] = meta
    with pytest.raises(TypeError):
        PresenceTracker().track("c1", "k", meta)


@pytest.mark.parametrize("reserved", ["ref", "ref_prev"])
def test_metas_may_not_set_the_refs(reserved: str) -> None:
    tracker = PresenceTracker()
    with pytest.raises(ValueError, match=reserved):
        tracker.track("c1", "k", {reserved: "mine"})
    assert len(tracker) == 0


def test_connection_ids_and_keys_must_be_strings() -> None:
    tracker = PresenceTracker()
    with pytest.raises(TypeError):
        tracker.track(1, "k", {})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tracker.track("c1", 1, {})  # type: ignore[arg-type]
    assert (1, "k") not in tracker
    assert "c1" not in tracker
    assert len(tracker) == 0


# -- limits ----------------------------------------------------------------------------------


def test_limits_have_safe_defaults() -> None:
    tracker = PresenceTracker()
    assert tracker.max_presences == 10_000
    assert tracker.max_meta_bytes == 4096
    assert tracker.max_keys_per_connection == 16
    assert tracker.max_key_length == 256


@pytest.mark.parametrize(
    "limit", ["max_presences", "max_meta_bytes", "max_keys_per_connection", "max_key_length"]
)
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3"])
def test_limits_must_be_positive_integers(limit: str, value: Any) -> None:
    with pytest.raises(ValueError, match=limit):
        PresenceTracker(**{limit: value})


def test_max_presences() -> None:
    tracker = PresenceTracker(max_presences=2)
    tracker.track("c1", "a", {})
    tracker.track("c2", "a", {})
    with pytest.raises(PresenceLimitError, match="max_presences=2") as caught:
        tracker.track("c3", "b", {})
    assert caught.value.limit == "max_presences"
    assert isinstance(caught.value, RoostError)
    # Updates do not add presences, and room frees up as presences leave.
    tracker.track("c1", "a", {"v": 2})
    tracker.update("c2", "a", {"v": 2})
    tracker.untrack("c1")
    tracker.track("c3", "b", {})
    assert len(tracker) == 2


def test_max_keys_per_connection() -> None:
    tracker = PresenceTracker(max_keys_per_connection=2)
    tracker.track("c1", "a", {})
    tracker.track("c1", "b", {})
    with pytest.raises(PresenceLimitError, match="max_keys_per_connection=2") as caught:
        tracker.track("c1", "c", {})
    assert caught.value.limit == "max_keys_per_connection"
    tracker.track("c1", "b", {"v": 1})
    tracker.track("c2", "c", {})
    assert tracker.keys_of("c1") == ["a", "b"]


def test_max_meta_bytes_counts_compact_utf8_json() -> None:
    tracker = PresenceTracker(max_meta_bytes=20)
    fits = {"n": "x" * 12}  # {"n":"xxxxxxxxxxxx"} is 20 bytes
    assert len(json.dumps(fits, separators=(",", ":"))) == 20
    tracker.track("c1", "k", fits)
    with pytest.raises(PresenceLimitError, match="21 bytes") as caught:
        tracker.track("c2", "k", {"n": "x" * 13})
    assert caught.value.limit == "max_meta_bytes"
    with pytest.raises(PresenceLimitError):
        tracker.track("c2", "k", {"n": "é" * 7})  # 14 bytes of UTF-8, not 7 characters
    with pytest.raises(PresenceLimitError):
        tracker.update("c1", "k", {"n": "x" * 13})
    assert tracker.state() == {"k": {"metas": [{"n": "x" * 12, "ref": "1"}]}}


def test_max_key_length() -> None:
    tracker = PresenceTracker(max_key_length=4)
    tracker.track("c1", "abcd", {})
    with pytest.raises(PresenceLimitError, match="max_key_length=4") as caught:
        tracker.track("c1", "abcde", {})
    assert caught.value.limit == "max_key_length"


# -- diffs -----------------------------------------------------------------------------------


def test_merge_diffs_cancels_a_meta_that_joins_then_leaves() -> None:
    tracker = PresenceTracker()
    first = tracker.track("c1", "alice", {"v": 1})
    second = tracker.track("c2", "alice", {})
    third = tracker.update("c1", "alice", {"v": 2})
    fourth = tracker.untrack("c2")
    merged = merge_diffs(merge_diffs(merge_diffs(first, second), third), fourth)
    assert merged == PresenceDiff(
        joins={"alice": {"metas": [{"v": 2, "ref": "3", "ref_prev": "1"}]}}
    )
    assert merge_diffs(PresenceDiff(), PresenceDiff()).is_empty
    other = PresenceTracker()
    assert merge_diffs(other.track("c1", "k", {}), other.untrack("c1")) == PresenceDiff()


def test_merge_diffs_keeps_leaves_of_older_metas() -> None:
    tracker = PresenceTracker()
    tracker.track("c1", "a", {})
    tracker.track("c2", "b", {})
    merged = merge_diffs(tracker.untrack("c1"), tracker.track("c3", "a", {}))
    assert merged == PresenceDiff(
        joins={"a": {"metas": [{"ref": "3"}]}}, leaves={"a": {"metas": [{"ref": "1"}]}}
    )


# -- snapshots -------------------------------------------------------------------------------


def populated() -> PresenceTracker:
    tracker = PresenceTracker()
    tracker.track("c1", "alice", {"cursor": {"x": 1}})
    tracker.track("c2", "bob", {})
    tracker.track("c1", "room", {"r": 1})
    tracker.track("c3", "alice", {"n": "ü"})
    tracker.update("c1", "alice", {"cursor": {"x": 2}})
    tracker.untrack("c2")
    return tracker


def test_snapshot_round_trip() -> None:
    tracker = populated()
    snapshot = tracker.to_snapshot()
    restored = PresenceTracker.from_snapshot(json.loads(json.dumps(snapshot)))
    assert restored.to_snapshot() == snapshot
    assert restored.state() == tracker.state()
    assert list(restored.state()) == list(tracker.state())
    assert restored.keys_of("c1") == tracker.keys_of("c1") == ["room", "alice"]
    assert restored.connections() == tracker.connections()
    assert len(restored) == len(tracker) == 3
    # The counter is restored too: the next refs are the same and never reuse old ones.
    assert restored.track("c9", "z", {}) == tracker.track("c9", "z", {})
    assert restored.untrack("c1") == tracker.untrack("c1")


def test_snapshot_of_an_empty_tracker() -> None:
    snapshot = PresenceTracker().to_snapshot()
    restored = PresenceTracker.from_snapshot(snapshot, max_presences=5)
    assert restored.to_snapshot() == snapshot
    assert restored.max_presences == 5
    assert restored.track("c", "k", {}).joins == {"k": {"metas": [{"ref": "1"}]}}


def test_a_snapshot_over_new_limits_is_restored_whole() -> None:
    restored = PresenceTracker.from_snapshot(populated().to_snapshot(), max_presences=2)
    assert len(restored) == 3
    with pytest.raises(PresenceLimitError):
        restored.track("c4", "k", {})
    restored.update("c3", "alice", {})
    restored.untrack("c1")
    restored.track("c4", "k", {})


def test_snapshots_are_not_shared() -> None:
    tracker = populated()
    snapshot = tracker.to_snapshot()
    restored = PresenceTracker.from_snapshot(snapshot)
    snapshot["presences"][0][2]["cursor"] = "changed"
    assert restored.state() == tracker.state()


@pytest.mark.parametrize(
    "snapshot",
    [
        {},
        {"version": 2, "next_ref": 1, "presences": []},
        {"version": 1, "next_ref": 0, "presences": []},
        {"version": 1, "next_ref": True, "presences": []},
        {"version": 1, "next_ref": 5, "presences": None},
        {"version": 1, "next_ref": 5, "presences": [["c", "k"]]},
        {"version": 1, "next_ref": 5, "presences": [["c", 1, {"ref": "1"}]]},
        {"version": 1, "next_ref": 5, "presences": [["c", "k", []]]},
        {"version": 1, "next_ref": 5, "presences": [["c", "k", {}]]},
        {"version": 1, "next_ref": 5, "presences": [["c", "k", {"ref": "5"}]]},
        {"version": 1, "next_ref": 5, "presences": [["c", "k", {"ref": "x"}]]},
        {"version": 1, "next_ref": 5, "presences": [["c", "k", {"ref": 1}]]},
        {"version": 1, "next_ref": 5, "presences": [["c", "k", {"ref": "1", "v": float("nan")}]]},
        {
            "version": 1,
            "next_ref": 5,
            "presences": [["c", "k", {"ref": "1"}], ["c", "k", {"ref": "2"}]],
        },
        {
            "version": 1,
            "next_ref": 5,
            "presences": [["c", "k", {"ref": "1"}], ["d", "k", {"ref": "1"}]],
        },
        {
            "version": 1,
            "next_ref": 5,
            "presences": [["c", "k", {"ref": "1"}], ["d", "j", {"ref": "1"}]],
        },
    ],
)
def test_malformed_snapshots_are_refused(snapshot: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not a presence snapshot"):
        PresenceTracker.from_snapshot(snapshot)


# -- properties ------------------------------------------------------------------------------

CONNS = st.sampled_from(["c0", "c1", "c2"])
KEYS = st.sampled_from(["alice", "bob", "k" * 10])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=6,
)
METAS = st.dictionaries(st.sampled_from(["name", "cursor", "colour", "é"]), JSON_VALUES, max_size=3)
TRACK = st.tuples(st.just("track"), CONNS, KEYS, METAS)
# Raw updates and untracks often miss (KeyError, empty diffs); the "existing" ones name a
# present (connection, key) by its index, resolved when they run.
OPERATIONS = st.lists(
    st.one_of(
        TRACK,
        TRACK,
        st.tuples(st.just("update"), CONNS, KEYS, METAS),
        st.tuples(st.just("untrack"), CONNS, st.none() | KEYS),
        st.tuples(st.just("update existing"), st.integers(0, 20), METAS),
        st.tuples(st.just("untrack existing"), st.integers(0, 20), st.booleans()),
    ),
    max_size=40,
)
# Small enough that random operations run into every limit now and then.
SMALL_LIMITS = {"max_presences": 5, "max_keys_per_connection": 2, "max_meta_bytes": 40}
LIMITS = st.sampled_from([{}, SMALL_LIMITS])


def resolve(tracker: PresenceTracker, operation: tuple[Any, ...]) -> tuple[Any, ...]:
    """The operation with an "existing" presence's index replaced by its (conn_id, key)."""
    name, *args = operation
    if not name.endswith(" existing"):
        return operation
    present = sorted((conn, key) for conn in tracker.connections() for key in tracker.keys_of(conn))
    if not present:  # nothing to change yet: join instead
        return ("track", f"c{args[0] % 3}", "alice", {})
    conn, key = present[args[0] % len(present)]
    if name == "update existing":
        return ("update", conn, key, args[1])
    return ("untrack", conn, None if args[1] else key)


def apply(tracker: PresenceTracker, operation: tuple[Any, ...]) -> PresenceDiff | type[Exception]:
    """Run one operation; an error must leave the tracker unchanged and is returned."""
    before = tracker.to_snapshot()
    name, *args = resolve(tracker, operation)
    try:
        diff: PresenceDiff = getattr(tracker, name)(*args)
    except (KeyError, PresenceLimitError) as exc:
        assert tracker.to_snapshot() == before
        return type(exc)
    return diff


def observe(tracker: PresenceTracker) -> tuple[Any, ...]:
    """Everything a user of the tracker can see, orders included."""
    state = tracker.state()
    return (
        list(state.items()),
        {conn: tracker.keys_of(conn) for conn in ["c0", "c1", "c2"]},
        tracker.connections(),
        len(tracker),
        tracker.to_snapshot(),
    )


@settings(max_examples=300)
@given(limits=LIMITS, operations=OPERATIONS)
def test_clients_applying_diffs_converge(
    limits: dict[str, int], operations: list[tuple[Any, ...]]
) -> None:
    """(a) From empty, and (b) from state() at every point, clients equal state()."""
    tracker = PresenceTracker(**limits)
    clients: list[State] = []
    merged = PresenceDiff()
    for operation in operations:
        clients.append(json.loads(json.dumps(tracker.state())))  # a client joins now
        result = apply(tracker, operation)
        if isinstance(result, PresenceDiff):
            message = wire(result)
            assert message.keys() == {"type", "joins", "leaves"}
            joined = {m["ref"] for p in message["joins"].values() for m in p["metas"]}
            left = {m["ref"] for p in message["leaves"].values() for m in p["metas"]}
            assert not joined & left
            assert all(
                p["metas"] for p in [*message["joins"].values(), *message["leaves"].values()]
            )
            for client in clients:
                sync_diff(client, message)
            merged = merge_diffs(merged, result)
        state = tracker.state()
        for client in clients:
            assert client == state
        # Refs are unique across the whole state.
        refs = [meta["ref"] for p in state.values() for meta in p["metas"]]
        assert len(refs) == len(set(refs)) == len(tracker)
    empty: State = {}
    sync_diff(empty, wire(merged))
    assert empty == tracker.state()


@settings(max_examples=300)
@given(
    limits=LIMITS,
    operations=OPERATIONS,
    restore_at=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_snapshots_change_nothing_observable(
    limits: dict[str, int], operations: list[tuple[Any, ...]], restore_at: list[bool]
) -> None:
    """(c) Hibernating (snapshot, JSON, restore) at any points changes no result."""
    plain = PresenceTracker(**limits)
    restored = PresenceTracker(**limits)
    for operation, restore in zip(operations, restore_at, strict=False):
        if restore:
            restored = PresenceTracker.from_snapshot(
                json.loads(json.dumps(restored.to_snapshot())), **limits
            )
        assert observe(restored) == observe(plain)
        assert apply(restored, operation) == apply(plain, operation)
    assert observe(restored) == observe(plain)
