"""``python -m bot`` is ``dlw-bot``, with the Python of the environment it is installed in."""

import sys

try:
    from bot.cli import main
except ModuleNotFoundError as exc:  # a system Python without the bot's dependencies
    sys.exit(
        f"python -m bot: {exc.name!r} is not installed for {sys.executable}. Run it with the "
        "Python of the virtual environment dlw-bot is installed in, e.g. .venv/bin/python -m bot "
        "(or use .venv/bin/dlw-bot); see the README's quick start."
    )

raise SystemExit(main())
