"""``python -m bot`` is ``dlw-bot``."""

from bot.cli import main

raise SystemExit(main())
