"""Telling people: e-mail over SMTP and a webhook (Teams/Slack-compatible JSON), each off unless configured,
and always a log line. A failing notifier never stops a release: its outcome is returned for the run's
metadata and logged as a warning.
"""

import json
import smtplib
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage

from metpipeline import settings


@dataclass(frozen=True)
class Notice:
    subject: str
    text: str
    link: str
    recipients: tuple[str, ...]  # e-mail addresses


def send(notice: Notice, log) -> dict[str, str]:
    """Send `notice` on every configured channel; returns each channel's outcome (never raises)."""
    outcomes = {"log": "written"}
    log.info(f"notification: {notice.subject} — {notice.link}")
    host = (settings.SMTP_HOST.value() or "").strip()
    if not host:
        outcomes["email"] = f"off ({settings.SMTP_HOST.name} not set)"
    elif not notice.recipients:
        outcomes["email"] = "no recipient has an e-mail address in the owners registry"
    else:
        outcomes["email"] = _guard(lambda: _email(notice, host), log, "e-mail")
    url = (settings.WEBHOOK_URL.value() or "").strip()
    outcomes["webhook"] = (
        _guard(lambda: _webhook(notice, url), log, "webhook")
        if url
        else f"off ({settings.WEBHOOK_URL.name} not set)"
    )
    return outcomes


def _guard(send_one, log, channel: str) -> str:
    try:
        return send_one()
    except Exception as exc:  # noqa: BLE001 - a notifier must never stop the release
        message = f"failed: {type(exc).__name__}: {settings.redact_secrets(str(exc))[:200]}"
        log.warning(f"{channel} notification {message}")
        return message


def _email(notice: Notice, host: str) -> str:
    port = settings.SMTP_PORT.get()
    message = EmailMessage()
    message["Subject"] = notice.subject
    message["From"] = settings.NOTIFY_FROM.value() or "metpipeline@localhost"
    message["To"] = ", ".join(notice.recipients)
    message.set_content(f"{notice.text}\n\nDecide here: {notice.link}\n")
    with smtplib.SMTP(host, port, timeout=15) as smtp:
        smtp.send_message(message)
    return f"sent to {len(notice.recipients)} recipient(s)"


def _webhook(notice: Notice, url: str) -> str:
    # `text` is what Slack and Teams incoming webhooks display; the other fields are for other receivers.
    body = json.dumps(
        {
            "text": f"{notice.subject}\n{notice.text}\n{notice.link}",
            "title": notice.subject,
            "link": notice.link,
        }
    ).encode("utf-8")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - the deployment's own URL
        return f"posted (HTTP {response.status})"
