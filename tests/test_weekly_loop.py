"""The weekly loop end to end: check-ins with who and why, reminders, the digest, trends — on real parts."""

from __future__ import annotations

import datetime as dt
import json
import re
import zlib
from pathlib import Path

from conftest import AUTH, SERVER_TOKEN
from weekly_parts import check_in, config, smtp_server, webhook_receiver

from sheets_sync import operations
from sheets_sync.demo import demo_people
from sheets_sync.operations import notify
from sheets_sync.runlog import weekly
from sheets_sync.workspace import Workspace

MONDAYS = [dt.date(2026, 11, 2), dt.date(2026, 11, 9), dt.date(2026, 11, 16), dt.date(2026, 11, 23)]
EMAIL = {name: email for name, email, _, _ in demo_people()}
MKT_OWNERS = {"KR1.1": "Priya Shah", "KR1.2": "Ana Costa", "KR1.3": "Ana Costa", "KR2.1": "Tom Becker",
              "KR2.2": "Ana Costa", "KR2.3": "Priya Shah"}
# Week by week, who checks in on which MKT key result (what they type; Notes is the comment). People save in
# this order; an .xlsx only knows who saved it last (docProps/core.xml), so that is who each check-in names.
PLAN: list[dict[str, tuple[str, dict[str, object]]]] = [
    {},
    {"KR1.2": ("Ana Costa", {"Current": 0.1, "Confidence": 6}),
     "KR1.1": ("Priya Shah", {"Current": 1320, "Confidence": 7, "Notes": "Webinar series started"})},
    {"KR1.2": ("Ana Costa", {"Current": 0.105}), "KR1.3": ("Ana Costa", {"Current": 34}),
     "KR2.2": ("Ana Costa", {"Current": 2, "Notes": "Two stories out"}),
     "KR1.1": ("Priya Shah", {"Current": 900, "Confidence": 3, "Notes": "Lead scoring broke; numbers reset"}),
     "KR2.3": ("Priya Shah", {"Current": 0.5, "Confidence": 7})},
    {},
]


def _body(message: object) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[attr-defined]
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[attr-defined]
    return text, html


def _mkt_ids(text: str) -> set[str]:
    return {m.split("/")[1] for m in re.findall(r"MKT/KR\d\.\d", text)}


def test_four_weeks_of_check_ins_reminders_digest_and_trends(company: Path) -> None:
    with smtp_server() as (smtp, box), webhook_receiver() as slack:
        cfg = config(company, smtp, [(slack.url, "slack")], digest_to=["lin.mei@tidewater.example"])
        last_checkin = {kr: MONDAYS[0] for kr in MKT_OWNERS}
        for week, day in enumerate(MONDAYS):
            edits: dict[str, dict[str, dict[str, object]]] = {}
            for kr, (who, values) in PLAN[week].items():
                edits.setdefault(who, {})[kr] = values
                last_checkin[kr] = day
            for who, updates in edits.items():
                check_in(company / "mkt.xlsx", who, updates)
            workspace = Workspace.from_path(cfg)
            report = operations.sync(workspace, as_of=day)
            found = {c["kr"]: c for c in report.checkins if c["unit"] == "MKT"}
            assert set(found) == set(PLAN[week]), week
            result = notify.remind(workspace, day)
            assert not result.failed
            mails = box.take()
            states = {s.kr_id: s for s in weekly.kr_states(workspace.state_home, "MKT")}
            # Reminders reach exactly the owners who skipped, about exactly the key results they skipped.
            wanted: dict[str, set[str]] = {}
            for kr, owner in MKT_OWNERS.items():
                if (day - last_checkin[kr]).days >= 7 and states[kr].status != "done":
                    wanted.setdefault(EMAIL[owner], set()).add(kr)
            got = {rcpt: _mkt_ids(_body(msg)[0]) for rcpt, msg in mails}
            assert {r: ids for r, ids in got.items() if ids} == wanted, week
            # Nobody gets mail about someone else's key results, in any unit.
            owners = {s.global_id: s.owner for s in weekly.kr_states(workspace.state_home)}
            people = notify.load_people(workspace)
            assert people is not None
            for rcpt, msg in mails:
                for gid in re.findall(r"\b[A-Z-]+/KR\d\.\d", _body(msg)[0]):
                    person = people.find(owners[gid])
                    assert person is not None and person.email == rcpt, (gid, rcpt)
            # The same week again sends nothing, even from a fresh process's view of the outbox.
            again = notify.remind(Workspace.from_path(cfg), day)
            assert again.queued == 0 and again.already_sent == len(result.messages)
            assert box.take() == []

        # Who and why were recorded, per cycle.
        home = Workspace.from_path(cfg).state_home
        kr11 = weekly.checkins(home, unit_code="MKT", kr_id="KR1.1")
        assert [(c.as_of, c.who, c.comment) for c in kr11] == [
            ("2026-11-16", "Priya Shah", "Lead scoring broke; numbers reset"),
            ("2026-11-09", "Priya Shah", "Webinar series started")]
        assert {c.cycle for c in kr11} == {"2026-Q4"}
        assert kr11[0].old_current == 1320 and kr11[0].new_current == 900

        # The leaders' digest of the last week: scores and their change, what turned off track, comments, chart.
        digest = notify.digest(Workspace.from_path(cfg), MONDAYS[3], since="7d")
        assert not digest.failed and digest.sent == 2
        [(rcpt, msg)] = box.take()
        assert rcpt == "lin.mei@tidewater.example"
        text, html = _body(msg)
        assert "MKT/KR1.1 Marketing-qualified leads" in text.split("Turned off track")[1].split("Blocked")[0]
        assert "Priya Shah: Lead scoring broke; numbers reset" in text
        # New blockers only: Sales now depends on an off-track MKT/KR1.1; the demo's old blockers are not news.
        blocked = text.split("Blocked by dependencies")[1].split("Missing check-ins")[0]
        assert "SALES/O1" in blocked and "MKT/KR1.1" in blocked and "ENG/O3" not in blocked, blocked
        assert "MKT/KR2.2 — Priya Shah: Two stories out" in text  # the workbook's last saver that week
        mkt_line = next(line for line in text.splitlines() if line.startswith("- MKT: "))
        assert re.fullmatch(r"- MKT: 0\.\d+ \([+-]0\.\d\d\)", mkt_line), mkt_line
        assert 'src="cid:' in html and "Lead scoring broke" in html
        [png] = [p for p in msg.walk() if p.get_content_type() == "image/png"]
        data = png.get_payload(decode=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and png["Content-ID"][1:-1] in html
        idat = data[data.index(b"IDAT") + 4:data.index(b"IEND") - 8]
        assert len(zlib.decompress(idat)) == 200 * (480 * 3 + 1)
        [posted] = slack.bodies
        assert posted["text"].startswith("OKR digest") and posted["blocks"][0]["type"] == "header"
        assert "Lead scoring broke" in posted["blocks"][1]["text"]["text"]
        # Sent once: asking again the same week sends nothing.
        assert notify.digest(Workspace.from_path(cfg), MONDAYS[3]).queued == 0 and box.take() == []

    # The dashboard's API shows each key result's trend over the four weeks, with who and why.
    from sheets_sync.server import create_app

    client = create_app({"WORKSPACE": str(cfg), "TOKENS": [SERVER_TOKEN], "TESTING": True}).test_client()
    body = client.get("/api/kr/MKT/KR1.1", headers=AUTH).get_json()
    assert [p["as_of"] for p in body["trend"]] == [d.isoformat() for d in MONDAYS]
    assert [p["current"] for p in body["trend"]] == [1250, 1320, 900, 900]
    assert [p["confidence"] for p in body["trend"]] == [7, 7, 3, 3]
    assert body["key_result"]["owner"] == "Priya Shah" and body["key_result"]["target"] == 1600
    assert body["checkins"][0]["comment"] == "Lead scoring broke; numbers reset"
    listed = client.get("/api/checkins?unit=MKT", headers=AUTH).get_json()["checkins"]
    assert len(listed) == 7 and all(c["cycle"] == "2026-Q4" for c in listed)
    page = client.get("/kr/MKT/KR1.1", headers=AUTH)
    assert page.status_code == 200 and "Lead scoring broke" in page.get_data(as_text=True)
    front = client.get("/", headers=AUTH).get_data(as_text=True)
    assert 'href="/kr/MKT/KR1.1"' in front and 'href="/unit/MKT"' in front


def test_a_failing_mail_server_and_webhook_are_retried_later_and_never_fail_a_sync(company: Path) -> None:
    with webhook_receiver(fail_first=1) as teams:
        cfg = config(company, "smtp://127.0.0.1:9", [(teams.url, "teams")], digest_to=["lin.mei@tidewater.example"])
        workspace = Workspace.from_path(cfg)
        assert operations.sync(workspace, as_of=MONDAYS[0]).status == "ok"
        result = notify.digest(workspace, MONDAYS[0])
        assert result.sent == 0 and len(result.failed) == 2
        assert notify.pending_failures(workspace)[0]["error"]
        assert "secret-part" not in " ".join(result.failed)  # a webhook's path is its secret
        # The next run (another week's sync, then any notify run) retries: the webhook now answers.
        assert operations.sync(workspace, as_of=MONDAYS[1]).status == "ok"
        retried = notify.deliver(workspace)
        assert retried.sent == 1 and len(retried.failed) == 1
        [card] = teams.bodies
        assert card["type"] == "message"
        attachment = card["attachments"][0]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert attachment["content"]["type"] == "AdaptiveCard" and attachment["content"]["body"][0]["text"].startswith(
            "OKR digest")
        assert [f["recipient"] for f in notify.pending_failures(workspace)] == ["lin.mei@tidewater.example"]


def test_reminders_speak_the_owners_language_and_ask_for_final_grades_in_the_last_week(company: Path) -> None:
    with smtp_server() as (smtp, box):
        cfg = config(company, smtp)
        workspace = Workspace.from_path(cfg)
        operations.sync(workspace, as_of=MONDAYS[0])
        notify.remind(workspace, MONDAYS[1])
        mails = dict(box.take())
        text, html = _body(mails["wang.qiang@tidewater.example"])
        assert text.startswith("王强，您好") and "SALES/KR1.1" in text and 'lang="zh"' in html
        assert mails["priya.shah@tidewater.example"]["Subject"].startswith("OKR check-in:")
        final = notify.remind(workspace, dt.date(2026, 12, 28))
        assert final.queued and all(m.kind == "final" for m in final.messages)
        mails = dict(box.take())
        assert "final Current" in _body(mails["priya.shah@tidewater.example"])[0]
        assert mails["wang.qiang@tidewater.example"]["Subject"].startswith("OKR 周期 2026-Q4 将于 2026-12-31 结束")


def test_an_api_check_in_records_the_tokens_name_and_the_next_sync_does_not_count_it_twice(company: Path) -> None:
    from sheets_sync.server import create_app

    cfg = company / "okr-sync.toml"
    cfg.write_text('[[sources]]\npath = "."\n[server]\ntokens = ["plain-token-0123456789abcdef0123456789", '
                   '{name = "Ana Costa", token = "ana-token-0123456789abcdef0123456789"}]\n', encoding="utf-8")
    operations.sync(Workspace.from_path(cfg), as_of=MONDAYS[0])
    client = create_app({"WORKSPACE": str(cfg), "TESTING": True}).test_client()
    ana = {"Authorization": "Bearer ana-token-0123456789abcdef0123456789"}
    answer = client.post("/api/checkins", headers=ana, json={"id": "MKT/KR1.2", "current": 0.1, "confidence": 6,
                                                            "comment": "Pricing page test", "who": "Somebody else"})
    assert answer.status_code == 201
    assert answer.get_json()["checkin"]["who"] == "Ana Costa"  # the API's who is the token's name
    assert client.post("/api/checkins", headers=ana, json={"id": "MKT/KR1.2", "confidence": 11}).status_code == 400
    assert client.post("/api/checkins", headers={"Authorization": "Bearer nope"}, json={}).status_code == 401
    plain_token = {"Authorization": "Bearer plain-token-0123456789abcdef0123456789"}
    plain = client.get("/api/checkins", headers=plain_token).get_json()
    assert [(c["id"], c["via"], c["new"]["current"]) for c in plain["checkins"]] == [("MKT/KR1.2", "api", 0.1)]
    check_in(company / "mkt.xlsx", "Ana Costa", {"KR1.2": {"Current": 0.1, "Confidence": 6,
                                                           "Notes": "Pricing page test"}})
    report = operations.sync(Workspace.from_path(cfg), as_of=MONDAYS[1])
    assert [c for c in report.checkins if c["unit"] == "MKT"] == []


def test_history_rows_carry_who_and_why(company: Path) -> None:
    import openpyxl

    operations.sync(Workspace.from_path(company), as_of=MONDAYS[0])
    check_in(company / "mkt.xlsx", "Priya Shah", {"KR1.1": {"Current": 1320, "Notes": "Webinars"}})
    report = operations.sync(Workspace.from_path(company), as_of=MONDAYS[1])
    assert report.to_json()["checkins"][0]["who"] == "Priya Shah"
    history = openpyxl.load_workbook(company / "mkt.xlsx")["History"]
    rows = [[c.value for c in r] for r in history.iter_rows()]
    assert rows[0] == ["Time", "As of", "ID", "Current", "Confidence", "Progress", "Score", "Status", "Measured",
                       "By", "Comment"]
    last = dict(zip(rows[0], [r for r in rows if r[2] == "KR1.1"][-1], strict=True))
    assert last["Current"] == 1320 and (last["By"], last["Comment"]) == ("Priya Shah", "Webinars")


class StepClock:
    """A clock that moves only when the scheduler sleeps: weeks pass in milliseconds."""

    def __init__(self, start: dt.datetime) -> None:
        self.t = start

    def now(self) -> dt.datetime:
        return self.t

    def sleep(self, seconds: float, stop: object) -> None:
        self.t += dt.timedelta(seconds=max(seconds, 0.001))


def test_remind_and_digest_run_at_their_weekly_times_on_the_schedule_library_and_never_twice(company: Path) -> None:
    from sheets_sync.server.scheduler import SyncScheduler, add_notify_jobs, sync_job

    with smtp_server() as (smtp, box):
        cfg = config(company, smtp, remind="monday 09:00", digest="friday 16:00",
                     digest_to=["lin.mei@tidewater.example"])
        operations.sync(Workspace.from_path(cfg), as_of=MONDAYS[0])
        clock = StepClock(dt.datetime(2026, 11, 8, 12, 0))  # a Sunday
        scheduler = SyncScheduler(sync_job(cfg), None, clock)
        scheduler.wake_every = 86400.0
        assert add_notify_jobs(scheduler, cfg) == ["remind", "digest"]
        scheduler.run(until=dt.datetime(2026, 11, 17, 0, 0))
        mails = box.take()
        assert scheduler.runs == 3 and scheduler.failures == 0
        kinds = [(m["Subject"].split(":")[0], rcpt) for rcpt, m in mails]
        assert ("OKR digest 2026-11-06 – 2026-11-13", "lin.mei@tidewater.example") in kinds
        reminded = [rcpt for subject, rcpt in kinds if subject.startswith(("OKR check-in", "OKR 更新提醒"))]
        assert len(reminded) == 2 * len(set(reminded)) > 0  # each owner once on 11-09 and once on 11-16
        # A restart in the same week: Monday 09:00 comes round again in the new process's schedule, nothing is
        # sent twice.
        again = SyncScheduler(sync_job(cfg), None, StepClock(dt.datetime(2026, 11, 16, 8, 0)))
        add_notify_jobs(again, cfg)
        again.run(until=dt.datetime(2026, 11, 16, 10, 0))
        assert again.runs == 1 and box.take() == []


def test_a_bad_weekly_time_is_one_clear_line(company: Path) -> None:
    import pytest
    from sheets_sync.server.scheduler import SyncScheduler, add_notify_jobs, sync_job

    from sheets_sync.errors import ConfigError

    cfg = config(company, remind="mondays at nine")
    with pytest.raises(ConfigError, match=r'\[notify\] remind = .* write it like "monday 09:00"'):
        add_notify_jobs(SyncScheduler(sync_job(cfg), None), cfg)


def test_the_demo_prints_a_reminder_and_a_digest_without_a_mail_server(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sheets_sync.cli import cli

    runner = CliRunner()
    folder = tmp_path / "okr-demo"
    out = runner.invoke(cli, ["demo", str(folder)])
    assert out.exit_code == 0, out.output
    assert (folder / "okr-sync.toml").is_file() and "[notify]" in (folder / "okr-sync.toml").read_text()
    assert f"okr-sync remind {folder} --as-of 2026-11-22 --dry-run" in out.output
    remind = runner.invoke(cli, ["remind", str(folder), "--as-of", "2026-11-22", "--dry-run"])
    assert remind.exit_code == 0, remind.output
    assert "── email to priya.shah@tidewater.example ── OKR check-in: 3 key result(s) need an update" in remind.output
    assert "王强，您好" in remind.output and "dry run:" in remind.output
    digest = runner.invoke(cli, ["digest", str(folder), "--as-of", "2026-11-15", "--dry-run", "--json"])
    assert digest.exit_code == 0, digest.output
    body = json.loads(digest.output)
    assert body["dry_run"] and body["messages"][0]["recipient"] == "lin.mei@tidewater.example"
    assert "Validation errors still open" in body["messages"][0]["text"]
    # Nothing was queued by a dry run: the outbox is empty.
    assert weekly.sent(Workspace.from_path(folder).state_home) == []


def test_okr_sync_log_shows_messages_that_could_not_be_delivered(company: Path) -> None:
    from click.testing import CliRunner

    from sheets_sync.cli import cli

    cfg = config(company, "smtp://127.0.0.1:9", digest_to=["lin.mei@tidewater.example"])
    operations.sync(Workspace.from_path(cfg), as_of=MONDAYS[0])
    out = CliRunner().invoke(cli, ["digest", str(cfg), "--as-of", MONDAYS[0].isoformat()])
    assert out.exit_code == 0 and "FAILED  digest to lin.mei@tidewater.example" in out.output
    log = CliRunner().invoke(cli, ["log", str(cfg)])
    assert "NOT SENT digest 2026-W45 to lin.mei@tidewater.example after 1 attempt(s): mail to" in log.output


def test_a_new_cycle_starts_afresh_and_past_cycles_get_no_reminders(company: Path) -> None:
    import openpyxl

    with smtp_server() as (smtp, box):
        cfg = config(company, smtp)
        operations.sync(Workspace.from_path(cfg), as_of=MONDAYS[0])
        # Marketing moves to 2027-Q1 with the same IDs and new figures; the other units' cycle has ended.
        book = openpyxl.load_workbook(company / "mkt.xlsx")
        settings = book["Settings"]
        for row in settings.iter_rows():
            key = row[0].value
            if key == "Cycle":
                row[1].value = "2027-Q1"
            elif key == "Cycle start":
                row[1].value = dt.date(2027, 1, 1)
            elif key == "Cycle end":
                row[1].value = dt.date(2027, 3, 31)
        book.save(company / "mkt.xlsx")
        check_in(company / "mkt.xlsx", "Priya Shah", {"KR1.1": {"Current": 950, "Notes": "New quarter"}})
        report = operations.sync(Workspace.from_path(cfg), as_of=dt.date(2027, 1, 4))
        assert report.checkins == []  # KR1.1 of 2027-Q1 is new, not a change to KR1.1 of 2026-Q4
        notify.remind(Workspace.from_path(cfg), dt.date(2027, 1, 11))
        mails = box.take()
        ids = {gid for _, msg in mails for gid in re.findall(r"\b[A-Z-]+/KR\d\.\d", _body(msg)[0])}
        assert ids and all(gid.startswith("MKT/") for gid in ids)
        home = Workspace.from_path(cfg).state_home
        assert {s.cycle for s in weekly.kr_states(home, "MKT")} == {"2026-Q4", "2027-Q1"}


def test_a_history_sheet_from_before_keeps_its_seven_columns(company: Path) -> None:
    import openpyxl

    book = openpyxl.load_workbook(company / "mkt.xlsx")
    book.create_sheet("History").append(["Time", "ID", "Current", "Confidence", "Progress", "Score", "Status"])
    book.save(company / "mkt.xlsx")
    operations.sync(Workspace.from_path(company), as_of=MONDAYS[0])
    check_in(company / "mkt.xlsx", "Priya Shah", {"KR1.1": {"Current": 1320, "Notes": "Webinars"}})
    report = operations.sync(Workspace.from_path(company), as_of=MONDAYS[1])
    assert report.checkins[0]["who"] == "Priya Shah"  # still on record in the run log
    rows = [[c.value for c in r] for r in openpyxl.load_workbook(company / "mkt.xlsx")["History"].iter_rows()]
    assert all(len([v for v in r if v is not None]) <= 7 for r in rows) and len(rows[0]) == 7


def test_every_weekly_api_route_is_described_for_the_openapi_document() -> None:
    from sheets_sync.server import create_app
    from sheets_sync.server.weekly_openapi import PATHS

    app = create_app({"TESTING": True})
    routes = {(r.rule, m.lower()) for r in app.url_map.iter_rules() if r.endpoint.startswith("weekly.")
              and r.rule.startswith(("/api/", "/addin/api/")) for m in r.methods - {"HEAD", "OPTIONS"}}
    described = {(re.sub(r"\{(\w+)\}", r"<\1>", path), method) for path, ops in PATHS.items() for method in ops}
    assert routes == described


def test_a_broken_people_workbook_is_one_note_and_the_sync_goes_on(company: Path) -> None:
    (company.parent / "people.xlsx").write_bytes(b"not a workbook")
    cfg = company / "okr-sync.toml"
    cfg.write_text('people = "../people.xlsx"\n[[sources]]\npath = "."\n', encoding="utf-8")
    report = operations.sync(Workspace.from_path(cfg), as_of=MONDAYS[0])
    assert report.status == "ok" and report.cells_written > 0
    [note] = [n for n in report.notes if "people.xlsx" in n]
    assert "cannot be read" in note and "Fix the path or the workbook" in note


def test_a_people_workbook_named_in_the_config_is_the_list(company: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Staff"
    for line in [["E-mail", "Name", "Language"], ["priya@x.example", "priya shah", "en"]]:
        book.active.append(line)
    book.save(company.parent / "people.xlsx")
    cfg = company / "okr-sync.toml"
    cfg.write_text('people = "../people.xlsx"\n[[sources]]\npath = "."\n', encoding="utf-8")
    report = operations.sync(Workspace.from_path(cfg), as_of=MONDAYS[0])
    unknown = {f.message.split("'")[1] for f in report.findings
               if f.rule == "owner-unknown" and f.message.startswith("Owner '")}
    assert "Priya Shah" not in unknown and "Ana Costa" in unknown
    assert any("(people.xlsx › Staff)" in f.message for f in report.findings if f.rule == "owner-unknown")
    assert Workspace.from_path(cfg).people().find("PRIYA  SHAH").email == "priya@x.example"  # type: ignore[union-attr]
