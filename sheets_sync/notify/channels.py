"""How messages travel: email over SMTP (STARTTLS, multipart text + HTML with an inline PNG) and chat webhooks
(Slack incoming webhooks with Block Kit, Teams incoming webhooks with an Adaptive Card)."""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError, OkrSyncError

PASSWORD_ENV = "OKR_SYNC_SMTP_PASSWORD"
TIMEOUT = 20


class DeliveryError(OkrSyncError):
    """A mail server or webhook refused or could not be reached; the message is retried later."""


@dataclass
class Webhook:
    url: str
    kind: str  # slack | teams


@dataclass
class NotifyConfig:
    """The [notify] section of okr-sync.toml."""

    smtp: str | None = None
    sender: str | None = None
    user: str | None = None
    stale_days: int = 7
    webhooks: list[Webhook] = field(default_factory=list)
    remind: str | None = None
    digest: str | None = None
    digest_to: list[str] = field(default_factory=list)
    dashboard_url: str | None = None

    @classmethod
    def read(cls, config: dict[str, Any], where: str = "okr-sync.toml") -> NotifyConfig:
        section = config.get("notify") or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{where}: [notify] must be a table")
        hooks = []
        for index, hook in enumerate(section.get("webhooks") or [], start=1):
            if not isinstance(hook, dict) or not str(hook.get("url", "")).startswith(("http://", "https://")):
                raise ConfigError(f'{where}: [[notify.webhooks]] {index} needs url = "https://…"')
            kind = str(hook.get("kind", "slack")).lower()
            if kind not in ("slack", "teams"):
                raise ConfigError(f'{where}: [[notify.webhooks]] {index}: kind must be "slack" or "teams"')
            hooks.append(Webhook(str(hook["url"]), kind))
        smtp = section.get("smtp")
        if smtp is not None and urlsplit(str(smtp)).scheme not in ("smtp", "smtps"):
            raise ConfigError(f'{where}: [notify] smtp must look like "smtp://mail.example.com:587"')
        to = section.get("digest_to") or []
        try:
            stale = int(section.get("stale_days", 7))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: [notify] stale_days must be a whole number of days") from None
        return cls(smtp=str(smtp) if smtp else None, sender=section.get("from"), user=section.get("user"),
                   stale_days=stale, webhooks=hooks, remind=section.get("remind"), digest=section.get("digest"),
                   digest_to=[to] if isinstance(to, str) else list(to), dashboard_url=section.get("dashboard_url"))


@dataclass
class Mail:
    """One message in its three forms: text, HTML (with an optional inline chart) and chat lines."""

    subject: str
    text: str
    html: str
    chart: bytes | None = None
    chart_cid: str = "chart"


def send_mail(config: NotifyConfig, to: str, mail: Mail) -> None:
    """Send one multipart/alternative mail (text + HTML, the chart inline) over SMTP, STARTTLS when offered."""
    if not config.smtp:
        raise DeliveryError("no mail server: set [notify] smtp = \"smtp://host:587\" in okr-sync.toml")
    url = urlsplit(config.smtp)
    message = EmailMessage()
    message["Subject"] = mail.subject
    message["From"] = config.sender or f"okr-sync@{url.hostname}"
    message["To"] = to
    message.set_content(mail.text)
    cid = make_msgid("chart")
    html = mail.html.replace(f"cid:{mail.chart_cid}", f"cid:{cid[1:-1]}")
    message.add_alternative(html, subtype="html")
    if mail.chart:
        html_part = message.get_body(preferencelist=("html",))
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(mail.chart, "image", "png", cid=cid, filename="chart.png")
    user = config.user or (unquote(url.username) if url.username else None)
    password = os.environ.get(PASSWORD_ENV) or (unquote(url.password) if url.password else None)
    try:
        if url.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(url.hostname or "localhost", url.port or 465, timeout=TIMEOUT,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(url.hostname or "localhost", url.port or 587, timeout=TIMEOUT)
        with client:
            client.ehlo()
            if url.scheme == "smtp" and client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if user and password:
                client.login(user, password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"mail to {to} via {url.hostname}:{url.port or 587} failed: "
                            f"{type(exc).__name__}: {exc}") from None


def slack_payload(title: str, lines: list[str], link: str | None = None) -> dict[str, Any]:
    """Slack incoming webhook: `text` is the notification fallback, `blocks` the Block Kit layout."""
    body = "\n".join(lines)[:2900]  # a section's text holds at most 3000 characters
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body or "—"}},
    ]
    if link:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|{link}>"}]})
    return {"text": title, "blocks": blocks}


def teams_payload(title: str, lines: list[str], link: str | None = None) -> dict[str, Any]:
    """Teams incoming webhook: a message whose attachment is an Adaptive Card."""
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium",
                                   "wrap": True}]
    body += [{"type": "TextBlock", "text": line, "wrap": True, "spacing": "Small"} for line in lines]
    card: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                            "version": "1.4", "body": body}
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": link}]
    return {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                "contentUrl": None, "content": card}]}


def post_webhook(hook: Webhook, title: str, lines: list[str], link: str | None = None) -> None:
    """POST the service's documented JSON; anything but 2xx is a DeliveryError."""
    payload = slack_payload(title, lines, link) if hook.kind == "slack" else teams_payload(title, lines, link)
    request = urllib.request.Request(hook.url, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                                     headers={"Content-Type": "application/json"}, method="POST")
    shown = urlsplit(hook.url).netloc  # the path of a webhook URL is its secret: never logged
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - configured URL
            response.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{hook.kind} webhook at {shown} answered {exc.code} {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"{hook.kind} webhook at {shown} could not be reached: {exc}") from None
