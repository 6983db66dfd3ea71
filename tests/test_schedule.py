"""The watcher's schedule on a given clock: when waiting files are ready, and when segments merge."""

from indexer.schedule import (BATCH_RETRIES, MERGE_AFTER_COMMITS, MERGE_FORCED_COMMITS,
                              MERGE_QUIET_SECONDS, OPEN_WRITE_GRACE, MergeSchedule, PendingQueue)

SETTLE = 1.0


def take(queue, now, stamps, limit=100):
    return sorted(queue.take_ready(now, limit, stamps.get))


def test_a_file_is_ready_once_its_stamp_held_for_the_settle_time():
    queue, stamps = PendingQueue(SETTLE), {"a.md": (10, 1)}
    queue.note("a.md", stamps["a.md"], now=0.0)
    assert take(queue, 0.5, stamps) == []
    stamps["a.md"] = (20, 2)                        # still being written: settling starts again
    assert take(queue, 1.0, stamps) == []
    assert take(queue, 1.9, stamps) == []
    assert take(queue, 2.0, stamps) == ["a.md"] and len(queue) == 0


def test_a_file_held_open_by_its_writer_waits_for_the_grace_time():
    queue, stamps = PendingQueue(SETTLE), {"a.md": (10, 1)}
    queue.note("a.md", stamps["a.md"], now=0.0, writing=True)
    assert take(queue, SETTLE, stamps) == []
    assert take(queue, OPEN_WRITE_GRACE, stamps) == ["a.md"]


def test_the_source_of_a_rename_goes_with_its_destination():
    queue, stamps = PendingQueue(SETTLE), {"new.md": (10, 1)}
    queue.note("new.md", stamps["new.md"], now=0.5)
    queue.note("old.md", None, now=0.0, follows="new.md")
    assert take(queue, 1.0, stamps) == []           # gone, but its destination still settles
    assert take(queue, 1.5, stamps) == ["new.md", "old.md"]


def test_the_oldest_files_go_first_up_to_the_limit():
    queue, stamps = PendingQueue(SETTLE), {}
    for n in range(5):
        queue.note(f"{n}.md", None, now=float(n))
    assert take(queue, 10.0, stamps, limit=2) == ["0.md", "1.md"]
    assert queue.paths() == {"2.md", "3.md", "4.md"}


def test_a_failed_batch_is_retried_then_left_to_the_rescan():
    queue, stamps = PendingQueue(SETTLE), {}
    queue.note("a.md", None, now=0.0)
    for attempt in range(BATCH_RETRIES):
        batch = queue.take_ready(10.0, 100, stamps.get)
        assert queue.requeue(batch) == [] and "a.md" in queue
    batch = queue.take_ready(10.0, 100, stamps.get)
    assert queue.requeue(batch) == [("a.md", BATCH_RETRIES + 1)] and "a.md" not in queue


def test_segments_merge_when_commits_pause_or_pile_up():
    merges = MergeSchedule()
    assert merges.idle_wait(100.0) is None          # nothing committed, nothing to merge
    merges.committed(100.0)
    assert merges.idle_wait(100.5) == MERGE_QUIET_SECONDS - 0.5
    assert merges.idle_wait(100.0 + MERGE_QUIET_SECONDS) == 0
    for n in range(1, MERGE_AFTER_COMMITS):
        merges.committed(100.0 + n * 0.1)
    assert merges.idle_wait(100.0 + MERGE_AFTER_COMMITS * 0.1) == 0     # never quiet, but enough commits
    assert not merges.forced()
    for n in range(MERGE_AFTER_COMMITS, MERGE_FORCED_COMMITS):
        merges.committed(101.0)
    assert merges.forced()
    merges.merged()
    assert merges.idle_wait(200.0) is None and not merges.forced()


