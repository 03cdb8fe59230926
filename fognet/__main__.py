"""`python -m fognet ...` is the `fognet` command."""

from fognet.cli import main

main()
