"""Roles (issue 14): the same program on every process, ``--roles`` / ``DLW_ROLES`` deciding what
each does; an unknown role is refused before anything starts; heartbeats carry the roles and
``dlw-bot status`` lists the live instances with their roles and leases."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import App
from bot.cli import LOCAL_PLATFORMS
from bot.config import ROLES, Settings, parse_roles
from bot.content.loader import ContentError
from tests.helpers import run_cli, wait_for
from tests.test_publishing import ScriptedPlatform


@dataclass
class Platform(ScriptedPlatform):
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def test_roles_are_parsed_in_a_fixed_order() -> None:
    assert parse_roles("schedule, BOT") == ("bot", "schedule")
    assert parse_roles("all") == ROLES == parse_roles("")
    with pytest.raises(ValueError, match="unknown role 'web'; the roles are bot, dispatch"):
        parse_roles("bot,web")


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (
            ["run", "--roles", "bot,sender"],
            {},
            "configuration error: --roles: unknown role 'sender'; the roles are bot, dispatch, "
            "schedule (or all)",
        ),
        (
            ["run"],
            {"DLW_ROLES": "dispatcher"},
            "configuration error: DLW_ROLES: unknown role 'dispatcher'; the roles are bot, "
            "dispatch, schedule (or all)",
        ),
    ],
)
def test_an_unknown_role_is_refused_with_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], line: str
) -> None:
    result = run_cli(*args, cwd=tmp_path, env={"DLW_TELEGRAM_TOKEN": "1:x", **env})
    assert result.returncode == 2
    assert result.stderr.strip() == line
    assert not (tmp_path / "dlw-bot.sqlite3").exists()  # refused before anything was opened


async def test_each_role_runs_only_its_part(settings: Settings) -> None:
    base = settings.model_copy(update={"publish_schedule": "wed 16:00"})
    seen: dict[tuple[str, ...], tuple[int, set[str]]] = {}
    for roles in (("bot",), ("dispatch",), ("schedule",), ROLES):
        configured = base.model_copy(update={"roles": roles, "instance": "+".join(roles)})
        async with (
            App.create(configured, local_platforms=LOCAL_PLATFORMS) as app,
            app.running([Platform()]),
        ):
            names = {task.get_name() for task in app._tasks if not task.done()}
            seen[roles] = (len(app.dispatchers), names & {"weekly-publisher", "dispatcher-tg"})
    assert seen == {
        ("bot",): (0, set()),
        ("dispatch",): (1, {"dispatcher-tg"}),
        ("schedule",): (0, {"weekly-publisher"}),
        ROLES: (1, {"dispatcher-tg", "weekly-publisher"}),
    }


@pytest.fixture(params=["sqlite", "postgres"])
def shared(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The processes' settings on the test's SQLite file, or on a real PostgreSQL database."""
    if request.param == "sqlite":
        return settings
    return settings.model_copy(update={"database": request.getfixturevalue("postgres_url")})


async def test_status_lists_live_instances_with_roles_and_leases(
    shared: Settings, tmp_path: Path
) -> None:
    settings = shared
    worker = settings.model_copy(update={"roles": ("dispatch",), "instance": "worker-1"})
    leader = settings.model_copy(update={"instance": "leader-1", "lease_seconds": 30.0})
    async with (
        App.create(worker, local_platforms=LOCAL_PLATFORMS) as first,
        App.create(leader, local_platforms=LOCAL_PLATFORMS) as second,
        first.running([Platform()]),
        second.running([Platform()]),
    ):
        await wait_for(
            lambda: second._notices is not None and second._notices.held, "the notice lease"
        )

        async def both_beat() -> bool:
            return len(await first.store.instances()) == 2

        await wait_for(both_beat, "both heartbeats")
        env = {"DLW_DATABASE": str(settings.database), "DLW_CONTENT_DIR": str(settings.content_dir)}
        result = await asyncio.to_thread(run_cli, "status", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Instances (2)" in out
    assert f"worker-1 ({first.process})" in out and f"leader-1 ({second.process})" in out
    assert "roles: dispatch" in out
    assert "roles: bot, dispatch, schedule; leases: content:notice" in out
    assert "last heartbeat" in out


async def test_operators_hear_of_rejected_content_from_one_process(settings: Settings) -> None:
    errors = [ContentError("issues/0207.yaml", "title", "Field required")]
    shared = settings.model_copy(update={"admins": ("tg:op",), "publish_schedule": "off"})
    names = ("schedule-a", "schedule-b", "dispatch-only")
    roles = (ROLES, ROLES, ("dispatch",))
    platforms = [Platform() for _ in names]
    async with contextlib.AsyncExitStack() as stack:
        apps = []
        for name, role, platform in zip(names, roles, platforms, strict=True):
            configured = shared.model_copy(update={"instance": name, "roles": role})
            app = await stack.enter_async_context(
                App.create(configured, local_platforms=LOCAL_PLATFORMS)
            )
            await stack.enter_async_context(app.running([platform]))
            apps.append(app)
        await wait_for(lambda: any(a._notices and a._notices.held for a in apps), "a leader")
        told = [await app.content_rejected(errors) for app in apps]
    assert sorted(told) == [False, False, True] and told[2] is False
    leader = told.index(True)
    assert [len(p.to("op")) for p in platforms] == [int(i == leader) for i in range(3)]
    assert "issues/0207.yaml: title: Field required" in platforms[leader].to("op")[0].plain_text()
