"""The 2021 seeds through bot.ingest: every item and section restored, text kept verbatim, and
the YAML and CLI output an editor reviews."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.content.models import Issue
from bot.ingest import Parsed, parse_document
from bot.ingest.write import issue_to_yaml
from tests.conftest import SEED_202, SEED_206

# What an editor reading the newsletter sees, section by section.
EXPECTED: dict[int, dict[str, list[str]]] = {
    202: {
        "Industry": [
            "Unveiling our new Quantum AI campus",
            "The Global AI Index",
            "AI Can Write Disinformation Now—and Dupe Human Readers",
            "PyTorch builds the future of AI and machine learning at Facebook",
            "Chinese AI lab challenges Google, OpenAI with a model of 1.75 trillion parameters",
            "China’s response to COVID showed the world how to make the most of A.I.",
        ],
        "Mobile & Edge": [
            "Introduction to Embedded Machine Learning",
            "Improving federated learning with dynamic regularization",
            "Mythic Launches Industry First Analog AI Chip",
        ],
        "Learning": [
            "Hacker's guide to deep-learning side-channel attacks: code walkthrough",
            "Overview of PyTorch Autograd Engine",
            "AI can now emulate text style in images in one shot — using just a single word",
            "Network devices overheat monitoring",
        ],
        "Libraries & Code": [
            "FairScale: a PyTorch extension library for high performance and large scale training",
            "IVY: the templated deep learning framework",
        ],
        "Papers & Publications": [
            "Towards General Purpose Vision Systems",
            "A graph placement methodology for fast chip design",
            "Does Knowledge Distillation Really Work?",
        ],
    },
    206: {
        "Industry": [
            "DeepMind says reinforcement learning is ‘enough’ to reach general AI",
            "AI drug discovery platform Insilico Medicine announces $255 million in Series C funding",
            "Transforming mobility with the confidence of world-class investors",
            "Open Catalyst Challenge: Using AI to discover catalysts for renewable energy storage",
            "DeepMind introduces the latest iteration of WaveNet",  # derived: the seed lost this title
            "The race to understand the exhilarating, dangerous world of language AI",
        ],
        "Mobile & Edge": [
            "TinyML Paper and Projects",
            "An Overview of the PyTorch Mobile Demo Apps",
            "Nvidia eyes ARM roadmap for AI, 5G integration from server to card to chip",
            "Beijing‘s Hardcore Vlogger Comes Up With Self-driving Bicycles",
        ],
        "Learning": [
            "FedBN Example: PyTorch - From Centralized To Federated",
            "The Ethics of AI",
            "Welcome to the 🤗\xa0 Course!",
            "The Principles of Deep Learning Theory",
        ],
        "Libraries & Code": [
            "ACCENTOR: Adding Chit-Chat to Enhance Task-Oriented Dialogues",
            "PyTorch 1.9 Release, including torch.linalg and Mobile Interpreter",
            "Mesh Transformer JAX",
        ],
        "Papers & Publications": [
            "Descending through a Crowded Valley -- Benchmarking Deep Learning Optimizers",
            "Reward is enough",
            "Thinking Like Transformers",
        ],
    },
}
SEED = {202: SEED_202, 206: SEED_206}
DERIVED = {"DeepMind introduces the latest iteration of WaveNet"}


def import_text(text: str) -> Parsed:
    (parsed,) = parse_document(text)
    return parsed


def _titles(issue: Issue) -> dict[str, list[str]]:
    return {s.name: [i.title for i in s.items] for s in issue.sections}


@pytest.mark.parametrize("number", [202, 206])
def test_seed_imports_with_every_item_and_restored_sections(number: int) -> None:
    result = import_text(SEED[number].read_text(encoding="utf-8"))
    assert result.issue.number == number
    assert result.issue.title == f"Deep Learning Weekly: Issue #{number}"
    assert _titles(result.issue) == EXPECTED[number]


@pytest.mark.parametrize("number", [202, 206])
def test_seed_text_is_kept_verbatim(number: int) -> None:
    lines = {line.strip() for line in SEED[number].read_text(encoding="utf-8").splitlines()}
    issue = import_text(SEED[number].read_text(encoding="utf-8")).issue
    assert issue.subtitle in lines
    for item in issue.items:
        assert item.summary in lines, item.title
        assert item.title in lines or item.title in DERIVED
    for paragraph in issue.intro.split("\n\n"):
        assert paragraph in lines


def test_yaml_output_round_trips_and_lists_guesses() -> None:
    result = import_text(SEED_206.read_text(encoding="utf-8"))
    text = issue_to_yaml(result.issue, source="seed.txt", guesses=result.guesses)
    assert "# The importer guessed" in text
    assert "seed.txt line 33: this story has no title line" in text
    assert Issue.model_validate(yaml.safe_load(text)) == result.issue


# Its item "A title" has no summary: the next line is another title.
BAD_TEXT = (
    "Deep Learning Weekly: Issue #300\n\nTopics line\n\nHey folks,\n\nUntil next week!\n\n\n"
    "Industry\n\nA title\n\nAnother title\n\nThird title\n\nA summary.\n"
)


def test_cli_import_writes_nothing_on_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    bad = tmp_path / "bad.txt"
    bad.write_text(BAD_TEXT, encoding="utf-8")
    out = tmp_path / "out.yaml"
    assert main(["import", str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:12: error:" in err and "Nothing was written" in err
    assert not out.exists()


def test_cli_import_writes_file_and_prints_guesses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    out = tmp_path / "issues" / "0206.yaml"
    assert main(["import", str(SEED_206), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"{SEED_206}:33: guessed: this story has no title line" in captured.err
    assert "20 items, 3 guesses to review" in captured.out
    assert Issue.model_validate(yaml.safe_load(out.read_text(encoding="utf-8"))).number == 206
    # The same issue again is unchanged; a different file there is never overwritten silently.
    capsys.readouterr()
    assert main(["import", str(SEED_206), "-o", str(out)]) == 0
    assert "issue #206 unchanged" in capsys.readouterr().out
    out.write_text(out.read_text(encoding="utf-8").replace("TinyML", "TinyAI"), encoding="utf-8")
    assert main(["import", str(SEED_206), "-o", str(out)]) == 1
    assert "differs from" in capsys.readouterr().err
    assert main(["import", str(SEED_206), "-o", str(out), "--replace"]) == 0
