"""Core intents to skills: which skill, which permission, fitting arguments, follow-up questions, reply text."""

from __future__ import annotations

import json
import logging
from typing import Any

from agent.auth import allows
from agent.intents import Intent
from agent.prompts import followups
from config.errors import PermissionDenied, SelftuneError, report_internal_error
from config.messages import Reply
from config.settings import Permission
from skills.context import SkillContext
from skills.registry import SkillInfo, SkillRegistry

log = logging.getLogger(__name__)

INTENT_SKILLS: dict[str, str] = {
    "tune": "train.submit", "status": "jobs.status", "cancel": "jobs.cancel", "eval": "eval.run",
    "export": "export.run", "rollback": "adapters.rollback", "collect": "memory.collect",
    "forget": "memory.forget", "dataset": "dataset.validate",
    "schedule:add": "schedule.add", "schedule:list": "schedule.list", "schedule:remove": "schedule.remove",
    "schedule:pause": "schedule.remove", "schedule:resume": "schedule.remove", "improve": "improve.journal",
}
SKILL_INTENTS = {skill: key.split(":")[0] for key, skill in INTENT_SKILLS.items()}
# Checked before asking anything, so an unauthorised request is refused at once, not after questions.
INTENT_PERMISSION: dict[str, Permission] = {
    "tune": "train", "status": "read", "cancel": "train", "eval": "train", "export": "train",
    "rollback": "admin", "collect": "admin", "forget": "read", "dataset": "read", "help": "read",
    "schedule:add": "admin", "schedule:remove": "admin", "schedule:list": "read",
    "schedule:pause": "admin", "schedule:resume": "admin", "improve": "read",
}
REQUIRED: dict[str, list[str]] = {"tune": ["persona", "dataset"]}
# Intent argument -> parameter names a skill may use for it (first one the skill has wins).
ALIASES: dict[str, list[str]] = {
    "job": ["job_id", "job", "id"], "adapter": ["adapter", "adapter_id", "persona", "name"],
    "persona": ["persona", "name", "schedule"], "dataset": ["dataset", "dataset_path", "path", "source"],
    "to": ["to", "target", "format"], "enabled": ["enabled", "on", "consent"], "channel": ["channel"],
    "at": ["at"], "every_minutes": ["every_minutes"], "scope": ["scope"], "query": ["query", "q"],
    "method": ["method"], "action": ["action"],
}


def intent_key(intent: Intent) -> str:
    """'schedule:list' for schedule intents, else the intent name."""
    return f"schedule:{intent.args.get('action', 'add')}" if intent.name == "schedule" else intent.name


def fit_args(intent_args: dict[str, Any], skill: SkillInfo, channel: str) -> dict[str, Any]:
    """Rename the grammar's arguments to the skill's parameter names; drop what the skill doesn't take."""
    params = skill.parameters.get("properties", {})
    fitted: dict[str, Any] = {}
    for key, value in intent_args.items():
        target = next((p for p in ALIASES.get(key, [key]) if p in params and p not in fitted), None)
        if target is not None:
            fitted[target] = value
    if "channel" in params and "channel" not in fitted:
        fitted["channel"] = channel
    return fitted


def missing_skill_args(skill: SkillInfo, fitted: dict[str, Any]) -> list[str]:
    """Required skill parameters still without a value."""
    return [p for p in skill.parameters.get("required", []) if p not in fitted]


def question(field: str, options: str = "") -> str:
    """The short follow-up question for a missing argument."""
    templates = followups()
    return templates.get(field, templates["default"]).format(options=options, field=field.replace("_", " "))


def check_permission(intent: Intent, permission: Permission, user: str) -> None:
    """Refuse before doing anything when the sender's permission is below what the intent needs."""
    needed = INTENT_PERMISSION.get(intent_key(intent), "read")
    if not allows(permission, needed):
        raise PermissionDenied(
            f"Sorry {user}, '{intent.name}' needs the '{needed}' permission and you have '{permission}'; "
            f"ask an admin to add you to auth.{needed}s."
        )


def not_installed(intent: Intent, skill_name: str) -> Reply:
    """A clear reply when the skill behind a core intent is not registered (yet)."""
    shown = ", ".join(f"{k}={v}" for k, v in intent.args.items()) or "no arguments"
    return Reply(text=f"I understood '{intent.name}' ({shown}), but the {skill_name} skill is not installed here, "
                      "so I can't do that yet; `selftune doctor` lists the skills.", intent=intent.name, args=intent.args)


def run_skill(registry: SkillRegistry, name: str, args: dict[str, Any], ctx: SkillContext) -> Any:
    """Call a skill; expected failures propagate as SelftuneError, bugs become 'internal error id X'."""
    try:
        return registry.call(name, args, ctx)
    except SelftuneError:
        raise
    except Exception as exc:
        raise SelftuneError(report_internal_error(log, exc, f"while running {name}")) from None


def describe_result(intent: str, result: Any) -> str:
    """A short human reply for a skill's result dict."""
    if not isinstance(result, dict):
        return str(result)
    for key in ("message", "summary", "text"):
        if isinstance(result.get(key), str):
            return result[key]
    if intent == "tune" and result.get("job_id"):
        return f"Started training job {result['job_id']}; I'll report progress here."
    shown = {k: v for k, v in result.items() if not isinstance(v, list | dict)}
    return "Done: " + (json.dumps(shown, default=str, ensure_ascii=False)[:500] if shown else "ok") + "."
