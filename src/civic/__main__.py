"""`python -m civic`: the same as the `civic` command (tests run it with the Python under test)."""

from civic.cli import main

main.run()
