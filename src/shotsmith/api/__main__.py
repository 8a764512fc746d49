"""`python -m shotsmith.api [--host ...] [--port ...] [--home ...]`: the same as `shotsmith serve`."""

import typer

from shotsmith.api.cli import serve_command


def main() -> None:
    typer.run(serve_command)


if __name__ == "__main__":
    main()
