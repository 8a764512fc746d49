"""`python -m shotsmith ...`: the same as the `shotsmith` command."""

from shotsmith.cli import main

if __name__ == "__main__":
    main()
