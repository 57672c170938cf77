"""Which families the installed diffusers runs: tests of a family newer than ``make test-lowest``'s diffusers
skip there with the reason, and run in its second pass at the family's own minimum."""

from __future__ import annotations

import pytest

from regional.families import family_named


def needs(family: str) -> pytest.MarkDecorator:
    """Skip unless the installed diffusers runs ``family``."""
    missing = family_named(family).missing_requirement()
    return pytest.mark.skipif(missing is not None, reason=missing or "")


def family_param(value, family: str):
    """A parametrize value that runs only where ``family`` does."""
    return pytest.param(value, marks=needs(family))
