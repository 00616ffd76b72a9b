"""The deployment files in ``deploy/`` start as written (docs/deployment.md): docker is not
available here, so the compose file's structure is checked instead (services, images, the
shared settings, every role somewhere, names that exist), the systemd unit with
``systemd-analyze verify``, and every ``DLW_*`` name they set against the settings models."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from adapters.discord.settings import DiscordSettings
from adapters.telegram.settings import TelegramSettings
from bot.cli import _parser
from bot.config import ROLES, Settings, parse_roles

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
BOT_SERVICES = ("bot", "dispatcher")


def known_settings() -> set[str]:
    names: set[str] = set()
    for model in (Settings, TelegramSettings, DiscordSettings):
        prefix = str(model.model_config.get("env_prefix", ""))
        names |= {f"{prefix}{field}".upper() for field in model.model_fields}
    return names


def env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip().lstrip("#").strip()
        if re.fullmatch(r"[A-Z_]+=.*", line):
            name, _, value = line.partition("=")
            values[name] = value
    return values


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_compose_has_postgres_and_two_bot_processes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", *BOT_SERVICES} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")
    assert set(compose["volumes"]) >= {"postgres", "content"}
    for name, service in services.items():
        assert "image" in service, name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], f"{name}: {volume}"
        for file in service.get("env_file", []):
            assert (DEPLOY / f"{file}.example").is_file(), f"{name}: {file} has no example"
    build = services["bot"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"


def test_every_role_runs_somewhere_and_each_command_parses(compose: dict[str, Any]) -> None:
    covered: set[str] = set()
    for name in BOT_SERVICES:
        service = compose["services"][name]
        args = _parser().parse_args(service["command"])
        assert args.command == "run", name
        covered |= set(parse_roles(args.roles))
        port = service["environment"]["DLW_METRICS_PORT"]
        assert f":{port}/readyz" in service["healthcheck"]["test"][-1]  # the probe hits it
    assert covered == set(ROLES)


def test_the_settings_they_set_exist_and_are_valid(compose: dict[str, Any]) -> None:
    example = env_file(DEPLOY / "dlw-bot.env.example")
    named = set(example)
    for service in compose["services"].values():
        named |= set(service.get("environment", {}))
    unknown = {n for n in named if n.startswith("DLW_")} - known_settings()
    assert unknown == set()
    database = urlsplit(example["DLW_DATABASE"])
    assert database.hostname == "postgres" and database.password == example["POSTGRES_PASSWORD"]
    assert database.username == compose["services"]["postgres"]["environment"]["POSTGRES_USER"]
    assert database.path == "/" + compose["services"]["postgres"]["environment"]["POSTGRES_DB"]
    assert Settings(database=example["DLW_DATABASE"]).database == example["DLW_DATABASE"]


def test_the_dockerfile_copies_what_exists() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    for source in re.findall(r"^COPY (.+) \S+$", text, flags=re.MULTILINE):
        for part in source.split():
            assert (REPO / part).exists(), part
    assert 'ENTRYPOINT ["dlw-bot"]' in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (DEPLOY / "dlw-bot.service").read_text(encoding="utf-8")
    [exec_start] = re.findall(r"^ExecStart=(.+)$", unit, flags=re.MULTILINE)
    assert exec_start.endswith("/bin/dlw-bot run")
    # Verified as installed: the executable exists (here: this environment's Python instead).
    installed = tmp_path / "dlw-bot.service"
    installed.write_text(unit.replace(exec_start, f"{sys.executable} -m bot run"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(installed)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""
