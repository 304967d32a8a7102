"""`python -m certmgr` runs the command-line interface."""

from certmgr.cli import run

if __name__ == "__main__":
    run()
