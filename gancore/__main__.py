"""``python -m gancore``: the CLI, as torchrun starts it (``torchrun -m gancore train ...``)."""

from gancore.cli import main

main()
