"""Queue callbacks: whose turn it is (pure policy) and the book that never dials twice."""

from callcenter.routing.callbacks import CallbackBook, CallbackRequest, due


def req(id_: str, queue: str = "q", joined_at: float = 0.0, state: str = "pending", next_try_at: float = 0.0):
    return CallbackRequest(id_, queue, f"555{id_}", joined_at, joined_at + 5, state=state, next_try_at=next_try_at)


def test_only_with_a_free_agent_oldest_place_first_one_in_flight_per_queue() -> None:
    requests = [req("b", joined_at=20), req("a", joined_at=10), req("c", queue="r", joined_at=5)]
    assert due(requests, {"q": 0, "r": 1}, {}, 100) == [requests[2]]
    assert [r.id for r in due(requests, {"q": 2, "r": 1}, {}, 100)] == ["a", "c"]  # one per queue
    requests[1].state = "dialing"
    assert [r.id for r in due(requests, {"q": 2}, {}, 100)] == []  # q already has one in flight


def test_callers_still_on_the_line_who_waited_longer_go_first() -> None:
    requests = [req("a", joined_at=50)]
    assert due(requests, {"q": 1}, {"q": 40.0}, 100) == []  # someone on the line since 40
    assert due(requests, {"q": 1}, {"q": 60.0}, 100) == requests  # the line's caller came later


def test_retry_waits_its_delay() -> None:
    assert due([req("a", next_try_at=200)], {"q": 1}, {}, 100) == []
    assert len(due([req("a", next_try_at=200)], {"q": 1}, {}, 200)) == 1


def test_one_request_per_number_attempts_persisted_before_dialing_then_failed(tmp_path) -> None:
    path = tmp_path / "callbacks.json"
    book = CallbackBook(path, attempts=2, retry_seconds=30)
    first = book.request("q", "5551", joined_at=10, now=20, call_id="1.1")
    assert book.request("q", "5551", joined_at=11, now=21, call_id="1.2") is first  # pressed * twice
    attempt = book.start_attempt(first)
    reread = CallbackBook(path)  # what a restarted controller finds: it was dialing, with this id
    assert reread.requests[first.id].state == "dialing" and reread.requests[first.id].attempt_id == attempt
    book.finished(first, answered=False, reason="busy", now=100)
    assert first.state == "pending" and first.next_try_at == 130
    book.start_attempt(first)
    book.finished(first, answered=False, reason="busy", now=200)
    assert first.state == "failed" and first.attempts == 2
    assert CallbackBook(path).requests[first.id].state == "failed"
    assert book.open() == []
