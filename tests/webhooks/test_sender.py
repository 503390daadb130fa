"""The outbound POST on its own: the whole answer within the timeout, however the receiver drips it."""

from __future__ import annotations

import socket
import threading
import time

from eproc.delivery import sender


def test_a_receiver_dripping_its_answer_is_cut_off_at_the_timeout() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.is_set():  # one header byte at a time, each well within a read timeout
                try:
                    connection.sendall(b"X")
                except OSError:
                    return
                time.sleep(0.2)

    threading.Thread(target=drip, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        started = time.monotonic()
        outcome = sender.post(url, "whsec_" + "QUFB" * 8, "msg_1", b"{}", timeout=1, allow_private=True)
        took = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
    assert not outcome.delivered and outcome.error in ("no answer within 1 s", "no complete answer within 1 s")
    assert took < 2


def test_a_refused_target_is_never_connected_to() -> None:
    outcome = sender.post("http://127.0.0.1:9/", "whsec_" + "QUFB" * 8, "msg_1", b"{}", timeout=1,
                          allow_private=False)
    assert outcome.status_code is None and (outcome.error or "").startswith("refused: ")
