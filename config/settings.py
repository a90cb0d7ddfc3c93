"""One Settings object: built-in defaults < selftune.toml < SELFTUNE_* environment.

Secrets (Discord token, API keys) come only from the environment or from a file
whose path is configured; a secret written into selftune.toml is refused.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.errors import ConfigError
from config.scrub import remember_secrets

Permission = Literal["read", "train", "admin"]
SECRET_FIELDS = ("discord_token", "openai_api_key", "judge_api_key", "mcp_token")


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, so typos are caught."""

    model_config = ConfigDict(extra="forbid")


class LLMConfig(Section):
    """Which chat model answers: the embedded local model, an OpenAI-compatible server or Ollama."""

    provider: Literal["local", "openai", "ollama"] = Field("local", description="Chat provider.")
    model: str = Field("smollm2", description="Model name at the provider (or local base model).")
    base_url: str | None = Field(None, description="Server URL for openai/ollama providers.")
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout in seconds.")
    max_new_tokens: int = Field(256, gt=0, description="Generation length cap.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature of chat answers; 0 answers "
                               "greedily (the same question, the same answer). Evaluation always generates greedily.")
    fallback: list[Literal["local", "openai", "ollama"]] = Field(
        default_factory=list, description="Providers tried in order when the main one fails."
    )
    repetition_penalty: float = Field(
        1.1, ge=1.0, le=2.0, description="Penalty on tokens already in the context, against loops: transformers' "
        "`repetition_penalty` (local), Ollama's and llama.cpp's `repeat_penalty` (1.0: off). Chat answers only; "
        "evaluation generates unpenalised.")
    no_repeat_ngram_size: int = Field(
        8, ge=0, description="Local model: never repeat a token n-gram of this size (0: off).")
    repeat_last_n: int = Field(
        256, ge=-1, description="Ollama/llama.cpp `repeat_last_n`: how many recent tokens the penalty looks at.")
    frequency_penalty: float = Field(
        0.3, ge=-2.0, le=2.0, description="OpenAI-compatible servers: `frequency_penalty` of chat answers.")
    presence_penalty: float = Field(
        0.1, ge=-2.0, le=2.0, description="OpenAI-compatible servers: `presence_penalty` of chat answers.")
    stop: list[str] = Field(
        default_factory=lambda: ["<|im_start|>", "<|im_end|>", "\nUser:", "\nAssistant:"], max_length=4,
        description="Stop sequences of chat answers: role markers a small model prints when it starts writing the "
        "next turn itself (at most 4, the OpenAI API's limit).")
    loop_repeats: int = Field(
        3, ge=0, description="A chat answer saying one sentence or `loop_ngram` words this many times is cut at its "
        "first repeat and marked degenerate (0: no guard).")
    loop_ngram: int = Field(8, ge=0, description="Words per n-gram for the loop guard (0: sentences only).")
    lora_api: Literal["vllm", "llamacpp"] = Field(
        "vllm", description="How the openai provider reaches a persona's adapter: 'vllm' (model = the adapter's "
        "served name, as in `vllm serve --lora-modules NAME=PATH`) or 'llamacpp' (llama.cpp's per-request `lora` "
        "field, the adapter found by name in GET /lora-adapters, as `selftune serve` loads them).",
    )


class ModelsConfig(Section):
    """Where base models come from."""

    allow_download: bool = Field(
        False, description="Let a Hub id base_model be downloaded from the Hugging Face Hub when it is not in the "
        "local HF cache (off: only the cache, `huggingface-cli download` fills it).",
    )


class JudgeConfig(Section):
    """The LLM judge used by evaluation; never the model under test."""

    provider: Literal["local", "openai", "ollama"] = Field(
        "local", description="Judge provider: 'local' (a model on this machine; by default the served base, already "
        "loaded by the evaluation), or a server: 'ollama' (e.g. a bigger model you already run there) or 'openai' "
        "(any OpenAI-compatible endpoint, llama.cpp's included).")
    model: str | None = Field(
        None, description="Judge model name at the provider, or a local base model; unset: the served base model.")
    method: Literal["text", "logprob"] = Field(
        "text", description="'text': the judge's written verdict (A, B or TIE); 'logprob' (local judges and openai "
        "servers that return top_logprobs, llama.cpp's and vLLM's): "
        "P(\"A\") against P(\"B\") at the verdict's first token, averaged over both orders, which a small model "
        "leans on less (docs/evaluation-judge.md).")
    base_url: str | None = Field(None, description="Server URL for openai/ollama judges.")
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout of the judge in seconds.")


class DiscordConfig(Section):
    """Discord transport options (the token itself is the secret `discord_token`)."""

    guild_ids: list[int] = Field(default_factory=list, description="Guilds to sync slash commands to.")
    global_sync: bool = Field(False, description="Sync slash commands globally (slow; only on request).")
    dm_policy: Literal["allow", "admins", "deny"] = Field("admins", description="Who may talk to the bot in DMs.")
    max_attachment_mb: float = Field(20.0, gt=0, description="Largest dataset/audio attachment accepted, in MB.")
    progress_edit_interval_s: float = Field(
        5.0, ge=1.0, description="Seconds between edits of a job's progress message (Discord rate limits)."
    )


class ExecutorConfig(Section):
    """Where training jobs run."""

    kind: Literal["local", "ray"] = Field("local", description="'local' subprocess or a 'ray' cluster.")
    ray_address: str | None = Field(None, description="Ray dashboard URL, e.g. http://gpu-box:8265.")
    worker_base_models: dict[str, str] = Field(
        default_factory=dict, description="Base model name -> its folder on the worker (GPU box), for bases that "
        "are neither packaged nor a Hub id in the worker's own Hugging Face cache.")
    cancel_grace_s: float = Field(10.0, gt=0, description="SIGTERM→SIGKILL grace period.")
    heartbeat_s: float = Field(2.0, gt=0, description="How often a job's supervisor records that it is alive.")
    heartbeat_stale_s: float = Field(
        60.0, gt=0, description="A supervisor on another host whose heartbeat is older than this is taken for dead.")


class TrainConfig(Section):
    """Bounds on what a training job accepts."""

    min_rows: int = Field(8, ge=1, description="Datasets with fewer rows are refused before training starts.")
    advise_prompting_below_rows: int = Field(
        50, ge=0, description="A tune preview with fewer rows than this says that a persona card (prompting alone) "
        "often does as well below ~50 examples, and offers both (0: never).")
    replay_general_share: float = Field(
        0.0, ge=0, le=0.9, description="Share of a persona tune's final training rows that are general replay: the "
        "base model's own greedy answers to packaged general prompts (never the forgetting check's), generated once "
        "per base model in the training worker and cached under models/replay/; a guard against forgetting "
        "general ability. Training split only, never the held-out one; recorded in the adapter manifest. 0: off.")
    report_to: Literal["none", "tensorboard", "trackio"] = Field(
        "none", description="Where training curves go (local files only): none, tensorboard or trackio; "
        "a recipe's hyper.report_to wins.")
    step_delay_s: float = Field(
        0.0, ge=0, le=60, description="Seconds every optimizer step pauses, as on a slower machine: rehearses time "
        "budgets and estimates (the demo's tests); 0 in real use.")


class EvalConfig(Section):
    """How much evidence the promotion gate needs."""

    min_rows: int = Field(
        16, ge=1, description="Fewest held-out rows a promotion verdict may rest on: on fewer, the bootstrap noise "
        "is itself noisy (4 rows once read as a win within ±0.007), so the gate keeps the current model and says so.")
    max_forgetting: float = Field(
        0.10, gt=0, lt=1, description="Largest drop the gate lets pass in general accuracy or in instruction "
        "following (each a share of the base model's own score, e.g. 0.10 = a tenth of it), or rise in the loss of "
        "the general set's right answers; a drop within its bootstrap noise is never a veto.")
    forgetting_items: int = Field(
        300, ge=4, description="Size of the forgetting check's general set: half questions with one right answer, "
        "half with one instruction checked by code (lowercase, word limit, keyword, bullets, JSON, one sentence); "
        "the same items every time. Fewer measure faster and noisier.")
    judge_max_position_bias: float = Field(
        0.2, ge=0, le=0.5, description="A judge whose verdicts choose the answer shown first more than 50% plus this "
        "(or less than 50% minus it) is reported as unreliable and left out of the gate, which then decides on "
        "held-out loss (SmolLM2 as a text judge chose the first answer in every verdict).")
    judge_max_disagreement: float = Field(
        0.4, ge=0, le=1, description="A judge whose two orders (candidate shown first, then second) disagree on more "
        "than this share of the pairs is reported as unreliable and left out of the gate (a coin flip disagrees on "
        "half of them).")


class AuthConfig(Section):
    """Who may do what. Identities are 'transport:user' (e.g. 'discord:1234', 'role:trainers')."""

    default_permission: Permission = Field("read", description="Permission of identities not listed below.")
    trainers: list[str] = Field(default_factory=list, description="Identities that may train, evaluate and export.")
    admins: list[str] = Field(default_factory=list, description="Identities with every permission.")
    local_user_permission: Permission = Field("admin", description="Permission of the terminal/CLI user.")
    rate_limit_per_minute: int = Field(20, gt=0, description="Messages one identity may send per minute.")


class MemoryConfig(Section):
    """Conversation memory and retention."""

    retention_days: int | None = Field(None, gt=0, description="Forget messages older than this.")
    recall_k: int = Field(4, ge=0, description="Remembered messages recalled into each turn (0 turns recall off).")
    embedder: Literal["model2vec", "onnx-int8", "onnx", "sentence-transformers", "torch"] = Field(
        "model2vec", description="How messages and queries are embedded: 'model2vec' (a static model distilled once "
        "from the packaged MiniLM: ~0.05 ms a query on CPU, same R@5 on bench/memory.py), or MiniLM itself: "
        "'onnx-int8' (~2 ms), 'onnx' (exact), 'sentence-transformers' or 'torch'. Models are made once from the "
        "packaged MiniLM under models/; changing between model2vec and MiniLM re-embeds the recall index once.")


class VoiceConfig(Section):
    """Local Whisper transcription."""

    model: str = Field("tiny.en", description="'tiny.en' (packaged), 'base' (the voice-base extra) or a CTranslate2 model folder.")
    device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="Device Whisper runs on.")
    compute_type: str = Field("int8", description="CTranslate2 compute type, e.g. int8 or float16.")
    max_seconds: float = Field(300.0, gt=0, description="Longest voice message transcribed, in seconds.")
    language: str | None = Field(None, description="Language to transcribe in, e.g. 'en'; unset: English for the "
                                 "'.en' models, detected for multilingual ones (which may then write another script).")
    hotwords: bool = Field(True, description="Bias decoding toward the command verbs and persona names (faster-whisper hotwords).")
    second_decode: bool = Field(True, description="A spoken command attempt the matcher is unsure of is heard once "
                                "more with the command vocabulary (declared voice verbs, persona names) as hotwords; "
                                "the surer command of the two transcripts is kept.")
    window_s: float = Field(10.0, ge=1, le=30, description="A voice message shorter than this is first heard in a "
                            "window this long instead of Whisper's 30 s (several times cheaper, less accurate); a "
                            "transcript that is not a clear command is heard again in the full window. 30 = off.")
    cpu_threads: int = Field(0, ge=0, description="CTranslate2 threads on CPU; 0 = one per core (its own default, 4, "
                             "oversubscribes a 2-core box).")
    fuzzy_run_at: float = Field(0.75, ge=0, le=1, description="A misheard spoken command whose tolerant match is at least this "
                                "confident runs as if typed right.")
    fuzzy_ask_at: float = Field(0.55, ge=0, le=1, description="Below fuzzy_run_at but at least this confident: ask "
                                "\"Did you mean …?\" first; below it the transcript is chat.")


class SchedulerConfig(Section):
    """Persisted schedules."""

    timezone: str = Field("UTC", description="IANA time zone of cron-style schedules.")
    misfire_grace_s: int = Field(43200, gt=0, description="A run missed by up to this many seconds (machine off) runs once on start.")
    min_new_conversations: int = Field(20, ge=0, description="Retrains skip when fewer new consented conversations arrived.")
    min_preference_pairs: int = Field(
        6, ge=1, description="A retrain adds a DPO stage when a persona has this many new 👍/👎 pairs (same prompt, a "
        "liked and a disliked answer), else a KTO stage when it has this many new rated answers.")


class RetrainConfig(Section):
    """What a nightly retrain does with a candidate that passed the offline gate."""

    canary_share: float = Field(
        0.0, ge=0, lt=1, description="Share of the persona's chat turns a gated candidate answers first (an online "
        "A/B: 👍/👎 on both sides decide at the deadline); 0 promotes it at once.")
    canary_days: float = Field(2.0, gt=0, description="How long a canary runs before its decision.")
    canary_min_ratings: int = Field(
        8, ge=2, description="Fewest rated answers on each side a canary's decision may rest on; fewer: the served "
        "adapter stays.")


class ImproverConfig(Section):
    """The improvement loop's budgets and kill switch."""

    enabled: bool = Field(True, description="Kill switch: false stops the loop before its next proposal.")
    max_rounds: int = Field(5, gt=0, description="Most rounds one `selftune improve run` may do.")
    round_budget_s: float = Field(900.0, gt=0, description="Wall-clock seconds one round (and one proposal) may take.")
    plateau_rejections: int = Field(3, gt=0, description="Rejections in a row after which a target is skipped.")
    allow_code_paths: list[str] = Field(
        default_factory=list, description="Workspace globs of code the loop may also edit (none by default)."
    )
    eval_base_model: str | None = Field(
        None, description="A smaller model to measure recipe proposals on (e.g. 'tiny'); unset measures on base_model. "
        "Proposals measured on it stay suggestions in the journal and are never applied automatically.")
    regression_window_days: float = Field(
        7.0, gt=0, description="After each nightly retrain and improver round, accepted changes of this many days "
        "are re-measured; one that now regresses beyond the noise is reverted.")
    watch_window: int = Field(
        40, ge=5, description="Rated answers per window when the served adapter is watched: the 👍 rate of its "
        "latest this-many rated answers is compared with that of its first this-many; a drop beyond the noise "
        "serves the adapter it replaced again. Until it has twice this many, nothing is decided.")
    watch_every_minutes: float = Field(
        60.0, gt=0, description="How often the bot checks each served adapter's 👍 rate (the check also follows "
        "every nightly retrain and improver round).")
    rephrase_window_s: float = Field(
        300.0, gt=0, description="A request the same person follows within this many seconds with another one, until "
        "a skill runs, counts as a failed phrasing of that skill (what skill proposals learn from).")
    replay_days: float = Field(
        30.0, gt=0, description="Skill proposals are judged by replaying this many days of consented requests (plus "
        "the evaluator-only holdout/skills/ set) through the router, without running anything.")


class McpConfig(Section):
    """What MCP clients (other agent hosts) may do through `selftune mcp`."""

    client_permission: Permission = Field("train", description="Permission granted to MCP clients.")
    allow_admin: bool = Field(False, description="Expose admin skills over MCP at all.")
    port: int = Field(8765, gt=0, lt=65536, description="Port for `selftune mcp --http` on 127.0.0.1.")


class DatasetsConfig(Section):
    """Where datasets may come from when Discord, MCP clients or the model name a file."""

    allowed_dirs: list[Path] = Field(
        default_factory=list,
        description="Extra folders whose files Discord users, MCP clients and model tool calls may read as datasets "
        "(the state dir's artifacts/datasets, where uploads are stored, is always allowed; the local CLI user may "
        "read any file).",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (and their subdomains) whose pages `dataset synth qa --source URL` may fetch; empty: no "
        "URL is fetched.",
    )
    fetch_max_bytes: int = Field(2_000_000, gt=0, description="Largest page a synthesis source URL may return.")
    fetch_timeout_s: float = Field(20.0, gt=0, description="Timeout of fetching one synthesis source URL, in seconds.")


class OllamaConfig(Section):
    """Ollama server used for export and for persona models (selftune-<persona>)."""

    host: str = Field("http://127.0.0.1:11434", description="URL of the Ollama server.")
    num_ctx: int = Field(4096, gt=0, description="Context window of persona models (capped by the GGUF's own).")
    base_model: str | None = Field(
        None, description="The model you pulled into Ollama that persona adapters were trained on (e.g. 'qwen3:8b'): "
        "persona models are created FROM it plus ADAPTER, keeping its own template; a persona card's "
        "ollama_base_model overrides it. Unset: the base GGUF is uploaded with the adapter instead.")
    temperature: float = Field(0.7, ge=0, description="PARAMETER temperature of persona models.")
    repeat_penalty: float = Field(1.1, gt=0, description="PARAMETER repeat_penalty of persona models.")


class AgentConfig(Section):
    """How the assistant takes messages and holds conversations, whatever the transport."""

    max_message_chars: int = Field(4000, gt=0, description="Longest chat message accepted; longer ones are "
                                   "refused with one sentence before any model work (Discord messages: at most Discord's own 4000).")
    session_ttl_s: float = Field(
        86400.0, gt=0, description="A channel's session (pending question or confirmation, persona, last adapter/job) "
        "is forgotten after this many seconds without a message.")
    confirm_jobs_over_s: float = Field(
        600.0, ge=0, description="A training job started from chat whose estimate exceeds this many seconds asks "
        "for a yes first (0: always ask).")
    train_step_s: float = Field(
        2.0, gt=0, description="Seconds one optimizer step takes on this device, for job estimates when no earlier "
        "job on this machine measured it.")


class BackupConfig(Section):
    """Nightly backups of the state dir (`selftune backup`), made while `selftune run` runs."""

    nightly: bool = Field(True, description="Back the state dir up every night while `selftune run` runs.")
    at: str = Field("01:30", description="Time of day (scheduler.timezone) of the nightly backup, e.g. 01:30 or 3am.")
    keep: int = Field(7, ge=1, description="Nightly backups kept in backup.dir; older ones are deleted after each "
                      "new one is written and verified.")
    dir: Path | None = Field(None, description="Folder of the nightly backups (default <home>/backups); put it on "
                             "another disk to survive the loss of this one.")


class Settings(BaseSettings):
    """All of selftune's configuration. Built once in main() and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="SELFTUNE_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    home: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("selftune")),
        description="State directory (SELFTUNE_HOME).",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("selftune")),
        description="Per-machine cache (SELFTUNE_CACHE_DIR): converted base models and the distilled recall embedder, "
        "shared by every state dir and filled by `selftune setup`.",
    )
    base_model: str = Field(
        "smollm2", description="'smollm2' (packaged), 'gemma3-270m' (packaged, extra `gemma`), 'tiny' (tests), an HF "
        "folder, or a Hub id in the local HF cache."
    )
    log_level: str = Field("INFO", description="Logging level: DEBUG, INFO, WARNING or ERROR.")

    llm: LLMConfig = Field(default_factory=LLMConfig, description=LLMConfig.__doc__)
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description=JudgeConfig.__doc__)
    discord: DiscordConfig = Field(default_factory=DiscordConfig, description=DiscordConfig.__doc__)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig, description=ExecutorConfig.__doc__)
    train: TrainConfig = Field(default_factory=TrainConfig, description=TrainConfig.__doc__)
    eval: EvalConfig = Field(default_factory=EvalConfig, description=EvalConfig.__doc__)
    auth: AuthConfig = Field(default_factory=AuthConfig, description=AuthConfig.__doc__)
    memory: MemoryConfig = Field(default_factory=MemoryConfig, description=MemoryConfig.__doc__)
    voice: VoiceConfig = Field(default_factory=VoiceConfig, description=VoiceConfig.__doc__)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig, description=SchedulerConfig.__doc__)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig, description=RetrainConfig.__doc__)
    improver: ImproverConfig = Field(default_factory=ImproverConfig, description=ImproverConfig.__doc__)
    datasets: DatasetsConfig = Field(default_factory=DatasetsConfig, description=DatasetsConfig.__doc__)
    ollama: OllamaConfig = Field(default_factory=OllamaConfig, description=OllamaConfig.__doc__)
    models: ModelsConfig = Field(default_factory=ModelsConfig, description=ModelsConfig.__doc__)
    mcp: McpConfig = Field(default_factory=McpConfig, description=McpConfig.__doc__)
    agent: AgentConfig = Field(default_factory=AgentConfig, description=AgentConfig.__doc__)
    backup: BackupConfig = Field(default_factory=BackupConfig, description=BackupConfig.__doc__)

    # Secrets: environment (SELFTUNE_DISCORD_TOKEN ...) or *_file paths only.
    discord_token: SecretStr | None = Field(None, description="Discord bot token (SELFTUNE_DISCORD_TOKEN only).")
    discord_token_file: Path | None = Field(None, description="File holding the Discord bot token.")
    openai_api_key: SecretStr | None = Field(None, description="API key of the OpenAI-compatible chat server.")
    openai_api_key_file: Path | None = Field(None, description="File holding the chat server's API key.")
    judge_api_key: SecretStr | None = Field(None, description="API key of the judge's server.")
    judge_api_key_file: Path | None = Field(None, description="File holding the judge server's API key.")

    config_file: Path | None = Field(None, exclude=True, description="The TOML file that was read, if any.")

    # The MCP HTTP bearer token, a secret like the ones above: environment or file only.
    mcp_token: SecretStr | None = Field(
        None, description="Bearer token every `selftune mcp --http` request must carry (SELFTUNE_MCP_TOKEN)."
    )
    mcp_token_file: Path | None = Field(None, description="A file holding the MCP bearer token (instead of the variable).")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment wins over init kwargs (the TOML file), which win over defaults."""
        return (env_settings, init_settings)

    def secret(self, name: str) -> str | None:
        """Return a secret's plain value from the environment or its *_file, or None."""
        value: SecretStr | None = getattr(self, name)
        if value is not None:
            return value.get_secret_value()
        path: Path | None = getattr(self, f"{name}_file")
        if path is None:
            return None
        try:
            return path.expanduser().read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ConfigError(f"Cannot read {name}_file {path}: {exc.strerror}; fix the path.") from None

    # Paths of the state directory (see docs/architecture.md).
    @property
    def db_path(self) -> Path:
        return self.home / "selftune.db"

    @property
    def chroma_dir(self) -> Path:
        return self.home / "chroma"

    @property
    def workspace_dir(self) -> Path:
        return self.home / "workspace"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def holdout_dir(self) -> Path:
        return self.home / "holdout"

    @property
    def backups_dir(self) -> Path:
        return (self.backup.dir or self.home / "backups").expanduser()


def secret_values(settings: Settings) -> list[str]:
    """All configured secret values (for redaction and scrubbing); unreadable secret files are skipped."""
    values = []
    for name in SECRET_FIELDS:
        try:
            value = settings.secret(name)
        except (ConfigError, ValueError):  # a broken *_file is reported by doctor, not here
            value = None
        if value:
            values.append(value)
    return values


def find_config_file(explicit: Path | None = None) -> Path | None:
    """Locate selftune.toml: --config, SELFTUNE_CONFIG, ./selftune.toml, then the state dir."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"Config file {explicit} does not exist; check the --config path.")
        return explicit
    env_path = os.environ.get("SELFTUNE_CONFIG")
    if env_path:
        path = Path(env_path)
        if not path.is_file():
            raise ConfigError(f"SELFTUNE_CONFIG points to {path}, which does not exist.")
        return path
    candidates = [Path.cwd() / "selftune.toml"]
    home = os.environ.get("SELFTUNE_HOME")
    candidates.append(Path(home) / "selftune.toml" if home else Path(platformdirs.user_data_dir("selftune")) / "selftune.toml")
    return next((p for p in candidates if p.is_file()), None)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from None
    for name in SECRET_FIELDS:
        if name in data:
            raise ConfigError(
                f"Config file {path} contains the secret '{name}'; secrets are read only from "
                f"SELFTUNE_{name.upper()} or '{name}_file' — remove it from the file."
            )
    return data


def _describe_validation_error(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    return f"Invalid setting '{key}' in {source}: {err['msg']} (got {err.get('input')!r})."


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from defaults, the TOML file and the environment, with clear errors."""
    path = find_config_file(config_path)
    data = _read_toml(path) if path else {}
    data.update(overrides)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        source = f"config file {path}" if path else "the SELFTUNE_* environment"
        # Environment values and file values share one error; name both places when a file exists.
        if path:
            source += " (or its SELFTUNE_* environment override)"
        raise ConfigError(_describe_validation_error(exc, source)) from None
    settings.config_file = path
    remember_secrets(secret_values(settings))  # scrubbed by value from everything stored or logged
    return settings


__all__ = ["Settings", "load_settings", "find_config_file", "Permission", "TomlConfigSettingsSource"]
