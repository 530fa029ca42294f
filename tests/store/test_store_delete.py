"""``actsearch delete`` sees that the driver holding a search's lease was a process of
this machine that has ended (SIGKILL): it deletes at once, without waiting for the
lease to expire; a driver that still runs keeps it refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from actsearch.cli import main
from actsearch.store import Store

_DRIVER = """
import sys, time
from actsearch.store import Store
store = Store(sys.argv[1])
lease = store.lease("held")
store.open_search("held", {"task": "t", "epochs": 1, "seeds": 1}, lease=lease)
print("holding", flush=True)
time.sleep(600)
"""


@pytest.mark.subprocess
def test_delete_right_after_the_driver_was_killed(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, url], stdout=subprocess.PIPE, text=True)
    try:
        assert driver.stdout.readline().strip() == "holding"
        assert main(["delete", "held", "--storage", url, "--yes"]) == 2  # alive: refused, naming it
        err = capsys.readouterr().err
        assert "is being run by another driver" in err and f"pid {driver.pid}" in err
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        driver.kill()
    assert Store(url).holder("held") is None  # the lease row is still there, its holder is gone
    started = time.monotonic()
    assert main(["delete", "held", "--storage", url, "--yes"]) == 0, capsys.readouterr().err
    assert time.monotonic() - started < 10  # not the lease's 30 s
    assert "deleted 'held'" in capsys.readouterr().out
    assert Store(url).searches() == []
