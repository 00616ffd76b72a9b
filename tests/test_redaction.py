"""One redaction filter: secrets and token patterns never reach a log handler."""

from __future__ import annotations

import logging
import re

import pytest

from adapters.redaction import MASK, RedactingFilter


def test_secrets_and_patterns_are_masked_in_messages_arguments_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redacting = RedactingFilter([re.compile(r"(/interactions/\d+/)[^/\s]+")])
    redacting.secrets.add("123:SECRET")
    logger = logging.getLogger("tests.redaction")
    redacting.attach("tests.redaction")
    try:
        with caplog.at_level(logging.DEBUG, logger="tests.redaction"):
            logger.info("GET https://api/bot%s/getMe", "123:SECRET")
            logger.info("POST /interactions/42/aW50ZXJhY3Rpb24/callback")
            try:
                raise RuntimeError("token 123:SECRET rejected")
            except RuntimeError:
                logger.exception("failed")
        text = caplog.text
        assert "SECRET" not in text and "aW50ZXJhY3Rpb24" not in text
        assert f"/bot{MASK}/getMe" in text and f"/interactions/42/{MASK}/callback" in text
        assert f"token {MASK} rejected" in text
    finally:
        logger.removeFilter(redacting)
