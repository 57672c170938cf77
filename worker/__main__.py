"""``python -m worker``: the same as ``regional worker``."""

import argparse
import sys

from worker import cli

parser = argparse.ArgumentParser(prog="python -m worker", description="Run a queue worker.")
cli.add_arguments(parser)
sys.exit(cli.run(parser.parse_args()))
