"""Be told when a nightly run fails or refuses files: a Prefect automation posting to a webhook.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m pipelines.notify --webhook URL [--lang zh]

Run once against the Prefect server the deployment runs on (``make notify WEBHOOK=URL``); again
to change the address or the language: it replaces what it made before (a notification block
and an automation, both named ``NAME``), so it never notifies twice. The automation runs in the
server (its triggers and actions services): whenever a run of the ``nightly`` flow ends in a
failed state (``Failed``, ``Completed with refusals``, ``TimedOut``) or crashes, the server POSTs
JSON ``{"subject": ..., "text": ...}`` to the webhook, naming the flow, the run and its state.

What is sent carries no personal data: the run's name (Prefect's random two words) and id, the
state, and for a run that refused files its message, which the flow writes with counts only
(``stages.ingest_trouble``). Another failure's message is an error's text, which can name a
file (and file names can hold identifiers), so it stays in the run's logs in Prefect.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Final, cast, get_args
from uuid import UUID

from prefect.automations import AutomationCore, EventTrigger, Posture, SendNotification
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL

from overdue.i18n import Lang
from pipelines.nightly import REFUSALS

NAME: Final = "overdue-nightly-failed"
"""The notification block's and the automation's name."""
FLOW: Final = "nightly"

NOTIFICATION: Final[dict[str, dict[Lang, str]]] = {
    "subject": {
        "en": "overdue: the nightly run {{ flow_run.name }} ended {{ flow_run.state.name }}",
        "zh": "overdue：夜间运行 {{ flow_run.name }} 结束于 {{ flow_run.state.name }}",
    },
    "ended": {
        "en": "The run {{ flow_run.name }} of flow {{ flow.name }} ended in state "
        "{{ flow_run.state.name }} ({{ flow_run.state.type.value }}).",
        "zh": "流程 {{ flow.name }} 的运行 {{ flow_run.name }} 结束于状态 "
        "{{ flow_run.state.name }}（{{ flow_run.state.type.value }}）。",
    },
    "refusals": {
        "en": "The rest of the pipeline ran on what was loaded. Each file and why: the run's "
        "ingested-files artifact, `overdue quarantine`, inbox/refused/.",
        "zh": "其余流程照常处理已载入的数据。每个文件及原因见该运行的 ingested-files 产物、"
        "`overdue quarantine` 和 inbox/refused/。",
    },
    "failed": {
        "en": "Nothing new was published; the service keeps serving the previous snapshot "
        "(if any). What went wrong is in the run's logs in Prefect (not sent here: an error's "
        "text can name a file).",
        "zh": "本次没有发布新内容，服务继续使用上一个快照（如有）。"
        "出错原因见 Prefect 中该运行的日志（不在此发送：错误信息可能包含文件名）。",
    },
    "run_id": {"en": "Flow run id: {{ flow_run.id }}", "zh": "运行编号：{{ flow_run.id }}"},
}
"""The notification's subject and body as Jinja templates the server renders for each run."""


def notification_body(lang: Lang) -> str:
    """The body's template: how the run ended; for refusals its message (counts only), for
    other failures where to look."""
    text = {key: texts[lang] for key, texts in NOTIFICATION.items()}
    return (
        f"{text['ended']}\n"
        f'{{% if flow_run.state.name == "{REFUSALS}" %}}{{{{ flow_run.state.message }}}}\n'
        f"{text['refusals']}{{% else %}}{text['failed']}{{% endif %}}\n"
        f"{text['run_id']}"
    )


def failure_automation(block_id: UUID, lang: Lang) -> AutomationCore:
    """The automation: a run of the nightly flow enters a failed or crashed state -> send the
    notification through the block ``block_id``."""
    return AutomationCore(
        name=NAME,
        description="overdue: tell the operator when a nightly run fails or refuses files",
        trigger=EventTrigger(
            expect={"prefect.flow-run.*"},
            match={
                "prefect.resource.id": "prefect.flow-run.*",
                "prefect.state-type": ["FAILED", "CRASHED"],
            },
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": FLOW},
            posture=Posture.Reactive,
            threshold=1,
            within=dt.timedelta(0),
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject=NOTIFICATION["subject"][lang],
                body=notification_body(lang),
            )
        ],
    )


def set_up_notifications(webhook: str, lang: Lang = "en") -> UUID:
    """Save the webhook block and the automation on the server ``PREFECT_API_URL`` names,
    replacing any made before under ``NAME``; the automation's id."""
    block = CustomWebhookNotificationBlock(
        name=NAME, url=webhook, json_data={"subject": "{{subject}}", "text": "{{body}}"}
    )
    block_id = cast("UUID", block.save(NAME, overwrite=True))  # called in sync code: the id
    with get_client(sync_client=True) as client:
        for earlier in client.read_automations_by_name(NAME):
            client.delete_automation(earlier.id)
        return client.create_automation(failure_automation(block_id, lang))


def main() -> None:
    """Set up the notification from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhook", required=True, help="the URL to POST the notification to")
    parser.add_argument("--lang", choices=get_args(Lang), default="en", help="[default: en]")
    args = parser.parse_args()
    if not PREFECT_API_URL.value():  # a temporary server would keep it nowhere anyone runs
        parser.error("set PREFECT_API_URL to the API of the Prefect server the deployment runs on")
    automation = set_up_notifications(args.webhook, args.lang)
    print(
        f"automation {NAME} ({automation}): a failed or refusing nightly run posts to the webhook"
    )


if __name__ == "__main__":
    main()
