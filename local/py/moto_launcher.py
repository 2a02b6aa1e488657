"""Start moto's server for the local stack: `python moto_launcher.py --host H --port P`.

The same as `moto_server -H H -p P`, plus: exits when its parent process is gone.
State is in memory and fresh at every start.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _watchdog import exit_with_parent  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    exit_with_parent()

    from moto.server import main as moto_main

    moto_main(["-H", args.host, "-p", str(args.port)])


if __name__ == "__main__":
    main()
