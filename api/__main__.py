"""``python -m api``: the same as ``regional serve``, for images that install only the API's dependencies."""

import argparse
import sys

from api import cli

parser = argparse.ArgumentParser(prog="python -m api", description="Run the HTTP API.")
cli.add_arguments(parser)
sys.exit(cli.run(parser.parse_args()))
