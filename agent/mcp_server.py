"""selftune's skills served to other agent hosts over the Model Context Protocol (official `mcp` SDK).

Tools are the skill registry itself: same JSON schemas (from type hints), same permission checks.
MCP clients get `settings.mcp.client_permission`; admin skills are hidden unless `mcp.allow_admin`.
A `jobs_wait` tool follows a training job and sends MCP progress notifications until it ends.
Resources expose job logs (`selftune://jobs/<id>/log`) and evaluation reports (`selftune://reports/<file>`).
Over HTTP every request must carry `Authorization: Bearer <mcp_token>` (SELFTUNE_MCP_TOKEN or mcp_token_file),
checked by the SDK's bearer middleware (401 otherwise); stdio needs no token (the client started the process).
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import INVALID_PARAMS

from agent import confirm
from config.errors import ConfigError, NotFound, SelftuneError, report_internal_error
from config.settings import Settings
from skills.context import Requester, SkillContext
from skills.registry import SkillInfo, SkillRegistry, dist_version

log = logging.getLogger(__name__)
JOB_WAIT_LIMIT_S = 6 * 3600
JOB_POLL_S = 0.5
TERMINAL_STATES = {"succeeded", "failed", "cancelled"}

JOBS_WAIT_TOOL = types.Tool(
    name="jobs_wait",
    description="Follow a training job until it ends, sending progress notifications (step/max_steps, loss); "
    "returns the final job state.",
    input_schema={
        "type": "object",
        "properties": {
            "job_id": {"type": "string", "description": "The id returned by train_submit."},
            "timeout_s": {"type": "number", "default": 3600, "description": "Give up waiting after this."},
        },
        "required": ["job_id"],
    },
)


def mcp_name(skill_name: str) -> str:
    """MCP tool names avoid dots for the widest client compatibility: dataset.validate → dataset_validate."""
    return skill_name.replace(".", "_")


class SkillServer:
    """Binds the registry to an MCP lowlevel Server for one client identity."""

    def __init__(self, settings: Settings, registry: SkillRegistry, client: str = "mcp-client") -> None:
        self.settings = settings
        self.registry = registry
        self.requester = Requester(
            user=f"mcp:{client}", transport="mcp", channel="mcp", permission=settings.mcp.client_permission
        )
        self.server: Server[Any] = Server(
            "selftune",
            version=dist_version("selftune"),
            instructions="Fine-tuning skills: datasets, training jobs, evaluation, export, schedules.",
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_resources=self.list_resources,
            on_read_resource=self.read_resource,
        )

    def visible(self) -> dict[str, SkillInfo]:
        """Skills this client can see, by MCP name (admin ones only when allowed)."""
        return {
            mcp_name(s.name): s for s in self.registry.all()
            if s.permission != "admin" or self.settings.mcp.allow_admin
        }

    async def list_tools(self, ctx: ServerRequestContext, params: Any) -> types.ListToolsResult:
        tools = [
            types.Tool(name=name, description=s.description, input_schema=_schema(s), annotations=_annotations(s))
            for name, s in self.visible().items()
        ]
        return types.ListToolsResult(tools=[*tools, JOBS_WAIT_TOOL])

    async def call_tool(self, ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        args = dict(params.arguments or {})
        try:
            if params.name == JOBS_WAIT_TOOL.name:
                result = await self.wait_for_job(ctx, str(args.get("job_id", "")), float(args.get("timeout_s", 3600)))
            else:
                result = await self.run_skill(params.name, args)
        except SelftuneError as exc:  # permission, bad arguments, expected failures: one sentence back
            return _error(str(exc))
        except Exception as exc:
            return _error(report_internal_error(log, exc, f"in the tool {params.name}"))
        text = json.dumps(result, default=str, ensure_ascii=False)
        structured = result if isinstance(result, dict) else {"result": result}
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=structured)

    async def run_skill(self, name: str, args: dict[str, Any]) -> Any:
        """Dispatch to the registry in a worker thread (skills may block)."""
        skill = self.visible().get(name)
        if skill is None:
            hidden = {mcp_name(s.name): s for s in self.registry.all()}.get(name)
            if hidden is not None:
                raise SelftuneError(f"'{hidden.name}' is an admin skill and admin skills are disabled over MCP (mcp.allow_admin).")
            raise NotFound(f"There is no tool named '{name}'; list the tools to see what selftune offers.")
        confirmed = args.pop(CONFIRM_ARG, False) is True if confirm.may_ask(skill) else False
        check = await anyio.to_thread.run_sync(
            lambda: confirm.check(self.settings, skill, args, self.requester, where="mcp"))
        if check.needed and not confirmed:  # say what would happen; do nothing
            return {"done": False, "would": check.text,
                    "message": f"{check.text} Nothing was done; call {name} again with confirm: true to do it."}
        # MCP clients are never the local user: their paths are confined to selftune's folders.
        context = SkillContext(settings=self.settings, requester=self.requester, confined=True)
        return await anyio.to_thread.run_sync(self.registry.call, skill.name, args, context)

    async def wait_for_job(self, ctx: ServerRequestContext, job_id: str, timeout_s: float) -> dict[str, Any]:
        """Poll the job store and report progress until the job ends or the timeout passes."""
        from skills.jobs import JobManager

        manager = JobManager(self.settings)
        deadline = time.monotonic() + min(timeout_s, JOB_WAIT_LIMIT_S)
        last_step = -1
        try:
            while time.monotonic() < deadline:
                job = await anyio.to_thread.run_sync(manager.get, job_id)
                step = job.progress.get("step")
                if isinstance(step, int) and step != last_step:
                    last_step = step
                    total = job.progress.get("max_steps")
                    message = f"step {step}/{total} loss {job.progress.get('loss')}"
                    await ctx.session.report_progress(float(step), float(total) if total else None, message)
                if job.state in TERMINAL_STATES:
                    return job.model_dump(mode="json")
                await anyio.sleep(JOB_POLL_S)
            job = await anyio.to_thread.run_sync(manager.get, job_id)
            return {**job.model_dump(mode="json"), "waiting": "timed out"}
        finally:
            manager.close()

    async def list_resources(self, ctx: ServerRequestContext, params: Any) -> types.ListResourcesResult:
        reports = self.reports_dir()
        resources = [
            types.Resource(name=f"eval report {p.parent.name}", uri=f"selftune://reports/{p.relative_to(reports)}",
                           mime_type=_mime(p))
            for p in sorted(reports.glob("*/report.*")) if p.suffix in (".md", ".json")
        ]
        for job_id in _job_ids(self.settings):
            resources.append(types.Resource(name=f"job {job_id} log", uri=f"selftune://jobs/{job_id}/log", mime_type="text/plain"))
        return types.ListResourcesResult(resources=resources)

    async def read_resource(self, ctx: ServerRequestContext, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        try:
            return self._read(str(params.uri))
        except SelftuneError as exc:  # the client sees the sentence, not "Internal server error"
            raise MCPError(INVALID_PARAMS, str(exc)) from None

    def _read(self, uri: str) -> types.ReadResourceResult:
        if uri.startswith("selftune://jobs/") and uri.endswith("/log"):
            job_id = uri.removeprefix("selftune://jobs/").removesuffix("/log")
            text = _job_log_text(self.settings, job_id)
        elif uri.startswith("selftune://reports/"):
            reports = self.reports_dir().resolve()
            path = (reports / uri.removeprefix("selftune://reports/")).resolve()
            if not path.is_relative_to(reports) or not path.is_file():  # no reading outside the reports folder
                raise NotFound(f"No report at {uri}; list the resources to see the reports.")
            text = path.read_text(encoding="utf-8", errors="replace")
        else:
            raise NotFound(f"Unknown resource {uri}.")
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type="text/plain", text=text)])

    def reports_dir(self) -> Path:
        return self.settings.artifacts_dir / "reports"


CONFIRM_ARG = "confirm"


def _schema(skill: SkillInfo) -> dict[str, Any]:
    """The skill's parameters, plus `confirm` for skills whose calls can destroy (they do nothing without it)."""
    if not confirm.may_ask(skill):
        return skill.parameters
    props = {**skill.parameters.get("properties", {}), CONFIRM_ARG: {
        "type": "boolean", "default": False,
        "description": "true to really do it; without it the tool only says what would happen."}}
    return {**skill.parameters, "properties": props}


def _annotations(skill: SkillInfo) -> types.ToolAnnotations:
    """The skill's declared effects as MCP hints, so a host can ask its user before anything destructive."""
    return types.ToolAnnotations(read_only_hint=skill.effect_free, destructive_hint=skill.effects == "destructive")


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def _mime(path: Path) -> str:
    return {".json": "application/json", ".md": "text/markdown", ".png": "image/png"}.get(path.suffix, "text/plain")


def _job_ids(settings: Settings) -> list[str]:
    from skills.jobs import JobManager

    manager = JobManager(settings)
    try:
        return [job.id for job in manager.list(limit=50)]
    finally:
        manager.close()


def _job_log_text(settings: Settings, job_id: str) -> str:
    from skills.jobs import JobManager

    manager = JobManager(settings)
    try:
        return manager.log_text(job_id)
    finally:
        manager.close()


async def serve_stdio(skill_server: SkillServer) -> None:
    """Serve one client over stdin/stdout until it disconnects."""
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await skill_server.server.run(read, write, skill_server.server.create_initialization_options())


class BearerToken:
    """The SDK's TokenVerifier for one shared secret, compared in constant time."""

    def __init__(self, token: str, client: str) -> None:
        self._token = token.encode()
        self.client = client

    async def verify_token(self, token: str) -> AccessToken | None:
        """Access for the configured client when the token matches, else None (the SDK answers 401)."""
        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token="configured", client_id=self.client, scopes=[])
        return None


def http_token(settings: Settings) -> str:
    """The bearer token HTTP clients must send; refusing to serve without one."""
    token = settings.secret("mcp_token")
    if not token:
        raise ConfigError("`selftune mcp --http` needs a bearer token: set SELFTUNE_MCP_TOKEN (or mcp_token_file) "
                          "and give the same token to the MCP client as 'Authorization: Bearer <token>'.")
    return token


def serve_http(skill_server: SkillServer, port: int, token: str) -> None:
    """Serve streamable HTTP on 127.0.0.1:port/mcp (loopback only), every request checked for the bearer token."""
    import uvicorn

    origin = f"http://127.0.0.1:{port}"
    app = skill_server.server.streamable_http_app(
        host="127.0.0.1",
        # No OAuth server: the issuer is this server itself, and no protected-resource metadata is advertised.
        auth=AuthSettings(issuer_url=origin, resource_server_url=None),
        token_verifier=BearerToken(token, skill_server.requester.user),
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
