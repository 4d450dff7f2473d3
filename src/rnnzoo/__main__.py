"""`python -m rnnzoo ...`: the same as the `rnnzoo` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
