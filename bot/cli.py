"""``dlw-bot``: run the bot, try it in a shell, and manage content.

dlw-bot                      same as ``dlw-bot run``
dlw-bot run                  serve every configured platform (the shell if none is)
dlw-bot shell [-c LINE]      the interactive terminal bot, or one command
dlw-bot validate [DIR]       check a content directory; exit 1 on any problem
dlw-bot init [DIR]           create a working content directory (default ./content)
dlw-bot import SOURCE…       files, directories, - or URLs (posts, pages, feeds) → issues/NNNN.yaml
dlw-bot approve [N]          move draft N into the archive (no N: list the drafts)
dlw-bot schema [--check]     regenerate (or check) content/schema/issue.json
dlw-bot publish [N] [--dry-run]  publish the newest unpublished issue (or N) now
dlw-bot status               publications and delivery counts per platform
dlw-bot db migrate [DB]      bring the database (default DLW_DATABASE) to this version's schema
dlw-bot db copy SRC DST [--force]  every table of one database into another (SQLite → PostgreSQL)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings
from rich.console import Console

from adapters.discord.settings import DiscordSettings
from adapters.telegram.settings import TelegramSettings
from bot.config import Settings
from bot.errors import DlwError
from bot.reply import plural

if TYPE_CHECKING:
    from bot.app import App
    from bot.platform import Adapter

__all__ = ["LOCAL_PLATFORMS", "Platforms", "main"]

log = logging.getLogger("bot")

# The composition root: the only module of bot/ that knows which platforms exist. A new platform
# is an adapter package plus its line in Platforms.

#: Platforms that only exist inside one process (the terminal shell): nothing is published there.
LOCAL_PLATFORMS = frozenset({"console"})


@dataclass(frozen=True)
class Platforms:
    """Every platform the bot can serve, with its settings (``DLW_<PLATFORM>_*``)."""

    telegram: TelegramSettings
    discord: DiscordSettings

    @property
    def configured(self) -> bool:
        """Whether any platform has a token (otherwise ``run`` is the shell)."""
        return self.telegram.configured or self.discord.configured

    def adapters(self, app: App) -> list[Adapter]:
        """An adapter for every platform with a token configured."""
        adapters: list[Adapter] = []
        if self.telegram.configured:
            from adapters.telegram import TelegramAdapter

            adapters.append(TelegramAdapter(app.adapter_services, self.telegram))
        if self.discord.configured:
            from adapters.discord import DiscordAdapter

            adapters.append(DiscordAdapter(app.adapter_services, self.discord))
        return adapters


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = _load(Settings)
        platforms = Platforms(telegram=_load(TelegramSettings), discord=_load(DiscordSettings))
    except _BadConfiguration:
        return 2
    _setup_logging(
        settings.log_level,
        quiet=args.command in {"publish", "status"}
        or (args.command in {None, "run", "shell"} and not platforms.configured),
    )
    if args.command in {None, "run"}:
        return _guarded(lambda: _run(settings, platforms))
    if args.command == "db":
        return _guarded(lambda: _db(settings, args))
    handler = {
        "shell": _shell,
        "validate": _validate,
        "init": _init,
        "import": _import,
        "approve": _approve,
        "schema": _schema,
        "publish": _publish,
        "status": _status,
    }[args.command]
    return _guarded(lambda: handler(settings, args))


def _guarded(run: Callable[[], int]) -> int:
    """Run a subcommand; a database that can't be opened is one line and exit 1 (never a
    traceback, never a process left hanging), a database server that can't be reached or
    refuses us is a configuration error (exit 2), Ctrl-C is 130."""
    from bot.store import StoreUnavailable, StoreUnreachable

    try:
        return run()
    except StoreUnreachable as exc:  # the setting names a server that is not there for us
        print(f"configuration error: DLW_DATABASE: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


_S = TypeVar("_S", bound=BaseSettings)


class _BadConfiguration(DlwError):
    """Settings that failed validation (already reported on stderr)."""


def _load(model: type[_S]) -> _S:
    """``model()`` from the environment, or every problem printed as ``DLW_NAME: reason``."""
    try:
        return model()
    except ValidationError as exc:
        prefix = str(model.model_config.get("env_prefix", ""))
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err["loc"])
            where = f"{prefix}{field.upper()}: " if field else ""
            message = err["msg"].removeprefix("Value error, ")
            print(f"configuration error: {where}{message}", file=sys.stderr)
        raise _BadConfiguration from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlw-bot",
        description="Deep Learning Weekly on Discord and Telegram.",
        epilog="`python -m bot` is the same command; run it with the Python of the virtual "
        "environment dlw-bot is installed in (e.g. .venv/bin/python -m bot).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "run", help="serve every configured platform (the shell when none is configured)"
    )
    shell = sub.add_parser("shell", help="the bot in your terminal")
    shell.add_argument(
        "-c", dest="line", metavar="LINE", help='run one command and exit, e.g. -c "/latest"'
    )
    shell.add_argument(
        "--plain",
        action="store_true",
        help="plain text, no boxes or colour (the default when output is not a terminal)",
    )
    validate = sub.add_parser("validate", help="check a content directory")
    validate.add_argument(
        "directory", nargs="?", type=Path, help="default: the configured content directory"
    )
    init = sub.add_parser("init", help="create a working content directory from the bundled one")
    init.add_argument(
        "directory", nargs="?", type=Path, default=Path("content"), help="default: ./content"
    )
    imp = sub.add_parser(
        "import",
        help="import issues: files, directories, - (stdin) or http(s) URLs of posts, pages, feeds",
    )
    imp.add_argument("sources", nargs="+", metavar="SOURCE")
    imp.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="DIR",
        help="write DIR/NNNN.yaml (or exactly FILE.yaml) instead of CONTENT_DIR/issues/",
    )
    imp.add_argument(
        "--replace", "--force", action="store_true", help="overwrite an existing, different file"
    )
    imp.add_argument(
        "--dry-run",
        "--stdout",
        action="store_true",
        help="print the YAML and the guesses; write nothing",
    )
    approve = sub.add_parser(
        "approve", help="move a draft (DLW_FEED_REVIEW=on) into the archive; no N: list drafts"
    )
    approve.add_argument("issue", nargs="?", type=int, help="the issue number")
    schema = sub.add_parser("schema", help="regenerate content/schema/issue.json")
    schema.add_argument(
        "--check", action="store_true", help="exit 1 if the file is out of date instead"
    )
    publish = sub.add_parser(
        "publish",
        help="publish the newest unpublished issue (or issue N) now; a running bot sends it",
    )
    publish.add_argument("issue", nargs="?", type=int, help="the issue number")
    publish.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be sent (counts per platform and a sample) and change nothing",
    )
    sub.add_parser("status", help="publications and delivery counts per platform")
    db = sub.add_parser("db", help="the database: migrate it, copy it into another")
    db_sub = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    migrate = db_sub.add_parser("migrate", help="apply the schema migrations and print versions")
    migrate.add_argument(
        "database", nargs="?", help="a SQLite file or postgresql:// URL (default DLW_DATABASE)"
    )
    copy = db_sub.add_parser(
        "copy",
        help="copy every table of SRC into DST (e.g. a SQLite file into a postgresql:// URL), "
        "in one transaction, verified by per-table counts",
    )
    copy.add_argument("source", metavar="SRC", help="the database to copy from")
    copy.add_argument("target", metavar="DST", help="the database to copy into (empty)")
    copy.add_argument(
        "--force", action="store_true", help="replace what DST holds instead of refusing"
    )
    return parser


def _setup_logging(level: str, *, quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore", "discord.http", "watchfiles"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# -- run / shell -------------------------------------------------------------------------


def _run(settings: Settings, platforms: Platforms) -> int:
    if not platforms.configured:
        Console(stderr=True, soft_wrap=True).print(
            "[bold]No platform configured[/bold], so here is the console shell.\n"
            "To serve Telegram set [cyan]DLW_TELEGRAM_TOKEN[/cyan] (from @BotFather); for Discord set "
            "[cyan]DLW_DISCORD_TOKEN[/cyan]. See the README's configuration table.\n"
        )
        return _shell(settings, argparse.Namespace(line=None))
    from bot.app import serve
    from bot.content.loader import ContentErrors

    try:
        return asyncio.run(serve(settings, platforms.adapters, local_platforms=LOCAL_PLATFORMS))
    except ContentErrors as exc:
        _print_content_errors(exc.errors)
        return 1


def _with_app(settings: Settings, body: Callable[[App], Awaitable[int]]) -> int:
    """Run ``body`` with a started App (closed afterwards); broken content is reported, exit 1."""
    from bot.app import App
    from bot.content.loader import ContentErrors

    async def go() -> int:
        async with App.create(settings, local_platforms=LOCAL_PLATFORMS) as app:
            return await body(app)

    try:
        return asyncio.run(go())
    except ContentErrors as exc:
        _print_content_errors(exc.errors)
        return 1


def _shell(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.console import ConsoleAdapter

    async def shell(app: App) -> int:
        plain = bool(getattr(args, "plain", False)) or not sys.stdout.isatty()
        console = ConsoleAdapter(app.adapter_services, plain=plain)
        if args.line is not None:
            return await console.run_once(args.line)
        if sys.stdin.isatty():
            app.watch_content()
        await console.interact()
        return 0

    return _with_app(settings, shell)


# -- publishing ----------------------------------------------------------------------------


def _publish(settings: Settings, args: argparse.Namespace) -> int:
    """Write the publication into the store; the running bot's dispatchers send it (they poll
    the outbox, so this works from another process or machine sharing the database)."""
    from adapters.console import show
    from bot.model import DeliveryKind
    from bot.publishing import PublishResult

    console = Console(soft_wrap=True)  # the terminal wraps messages: no trailing spaces
    plain = not sys.stdout.isatty()

    async def publish(app: App) -> int:
        if not args.dry_run:
            result = await app.publisher.publish(args.issue, trigger="cli")
            console.print(result.message)
            if result.created and result.plan and result.plan.deliveries:
                console.print(
                    "The running bot sends it now (dlw-bot status shows the progress).",
                    style="dim",
                )
            return 0 if result.created or result.issue_number is None else 1
        issue = await app.publisher.choose(args.issue)
        if isinstance(issue, PublishResult):
            console.print(issue.message)
            return 0 if issue.issue_number is None else 1
        preview = await app.publisher.preview(issue)
        plan, published = preview.plan, preview.published
        console.print(
            f"[bold]Dry run[/bold]: issue #{issue.number} would go out as {plan.describe()}."
        )
        if preview.already_published and published is not None:
            console.print(
                f"(It is already published, {published.trigger}: publishing again sends nothing.)"
            )
        for kind in (DeliveryKind.CHANNEL, DeliveryKind.DIGEST):
            sample = plan.sample(kind)
            if sample is None:
                continue
            console.print(f"\n[bold]Sample {kind.value}[/bold] → {sample.target}")
            planned = app.publisher.render_planned(issue.number, kind, sample.payload)
            show(console, planned, plain=plain)
        if plan.sample(DeliveryKind.CHANNEL) is None:
            console.print("\n[bold]A channel post would look like this[/bold] (none registered):")
            show(
                console,
                app.publisher.render_planned(issue.number, DeliveryKind.CHANNEL, {}),
                plain=plain,
            )
        console.print("\nNothing was written.", style="dim")
        return 0

    return _with_app(settings, publish)


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.console import show
    from bot.publishing import publishing_status
    from bot.store import open_store

    async def go() -> int:
        store = await open_store(settings.database, busy_timeout=settings.database_busy_timeout)
        try:
            reply = await publishing_status(store, settings, local_platforms=LOCAL_PLATFORMS)
        finally:
            await store.close()
        show(Console(), reply, plain=not sys.stdout.isatty())
        return 0

    return asyncio.run(go())


# -- the database ------------------------------------------------------------------------


def _db(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.urls import describe_location, parse_location

    named: dict[str, Path | str] = {}
    for label, value in (
        [("DATABASE", args.database or settings.database)]
        if args.db_command == "migrate"
        else [("SRC", args.source), ("DST", args.target)]
    ):
        try:
            named[label] = parse_location(value)
        except ValueError as exc:
            print(f"configuration error: {label}: {exc}", file=sys.stderr)
            return 2
    if args.db_command == "migrate":
        return asyncio.run(_db_migrate(named["DATABASE"], settings))
    source, target = named["SRC"], named["DST"]
    if _same_database(source, target):
        print(
            f"error: SRC and DST are the same database ({describe_location(source)})",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(_db_copy(source, target, settings, force=args.force))


def _same_database(a: Path | str, b: Path | str) -> bool:
    if isinstance(a, Path) and isinstance(b, Path):
        return a.resolve() == b.resolve()
    return a == b


async def _db_migrate(location: Path | str, settings: Settings) -> int:
    from bot.store import open_store
    from bot.store.urls import describe_location

    store = await open_store(location, busy_timeout=settings.database_busy_timeout)
    try:
        version = await store.schema_version()
    finally:
        await store.close()
    print(f"{describe_location(location)}: schema version {version}, up to date")
    return 0


async def _db_copy(
    source: Path | str, target: Path | str, settings: Settings, *, force: bool
) -> int:
    from bot.store import StoreError, StoreUnreachable, open_store
    from bot.store.copy import CopyRefused, copy_store
    from bot.store.urls import describe_location

    opened = []
    try:
        for label, location in (("SRC", source), ("DST", target)):
            try:
                opened.append(
                    await open_store(location, busy_timeout=settings.database_busy_timeout)
                )
            except StoreUnreachable as exc:
                print(f"configuration error: {label}: {exc}", file=sys.stderr)
                return 2
        try:
            counts = await copy_store(opened[0], opened[1], force=force)
        except CopyRefused as exc:
            print(f"copy refused: {exc}", file=sys.stderr)
            return 1
        except StoreError as exc:  # e.g. a value the target refuses: its transaction undone
            print(f"copy failed, nothing was written to DST: {exc}", file=sys.stderr)
            return 1
    finally:
        for store in opened:
            await store.close()
    print(f"copied {describe_location(source)} → {describe_location(target)}")
    width = max(len(c.table) for c in counts)
    for c in counts:
        print(f"  {c.table:<{width}}  {c.source:>8} rows → {c.target:>8}")
    print(f"  {'total':<{width}}  {sum(c.source for c in counts):>8} rows, every count verified")
    return 0


# -- content -----------------------------------------------------------------------------


def _print_content_errors(errors: Sequence[object]) -> None:
    for error in errors:
        print(error, file=sys.stderr)
    print(f"{plural(len(errors), 'problem')} found.", file=sys.stderr)


def _validate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.archive import Archive
    from bot.content.loader import check_content

    directory: Path = args.directory or settings.content_dir
    content, errors = check_content(directory)
    if errors or content is None:
        _print_content_errors(errors)
        return 1
    archive = Archive(content)
    for skipped in content.skipped:
        print(f"{skipped} (skipped)", file=sys.stderr)
    print(
        f"{directory}: OK — {plural(len(content.issues), 'issue')}, {plural(archive.item_count, 'item')}, {plural(len(content.taxonomy), 'topic')}."
    )
    archive.close()
    return 0


def _init(settings: Settings, args: argparse.Namespace) -> int:
    from bot.ingest.command import run_init

    return run_init(args.directory)


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.ingest.command import run_import

    return run_import(
        settings, args.sources, output=args.output, replace=args.replace, dry_run=args.dry_run
    )


def _approve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.ingest.command import run_approve

    return run_approve(settings, args.issue)


def _schema(settings: Settings, args: argparse.Namespace) -> int:
    from bot.content.schema import SCHEMA_FILE, issue_schema_json

    path = settings.content_dir / SCHEMA_FILE
    wanted = issue_schema_json()
    if not args.check:
        from bot.ingest.write import ContentNotWritable, check_writable

        try:  # the checkout's own content/ is fine here: the schema is generated from the code
            check_writable(settings.content_dir, explicit=True, need_topics=False)
        except ContentNotWritable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if args.check:
        if current != wanted:
            print(f"{path} is out of date; run `dlw-bot schema`.", file=sys.stderr)
            return 1
        print(f"{path} is up to date.")
        return 0
    from bot.ingest.write import atomic_write

    atomic_write(path, wanted)
    print(f"Wrote {path}.")
    return 0
