"""Shared by the launchers: exit when the process that started us is gone.

`cargo xtask` kills its emulators when it stops, but if it is killed with SIGKILL (or
crashes) nobody is left to do so; a launcher then notices that its parent changed and exits,
so no orphaned emulator keeps holding a port.
"""

import os
import threading
import time


def exit_with_parent(interval=0.5):
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
