"""How a broken contract is reported: an AssertionError whose message starts with the part."""

from __future__ import annotations

from typing import NoReturn


class ContractError(AssertionError):
    """A part breaks its kind's contract. The message names the part first
    (``critic 'my-critic' on mnist: ...``), so a failing suite says whom to fix."""


def fail(label: str, message: str) -> NoReturn:
    raise ContractError(f"{label}: {message}")


def expect(condition: object, label: str, message: str) -> None:
    if not condition:
        fail(label, message)
