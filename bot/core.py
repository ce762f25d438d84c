"""Putting the core together from the config: one model, one index, one history, shared by
every adapter."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .actions import load_actions
from .config import Config, read_secret
from .embeddings import load_embedder, load_second_embedder
from .engine import Engine, LlamaEngine, ModelQueue, OpenAIEngine
from .errors import ConfigError, ModelError
from .history import History
from .knowledge import KnowledgeBase, SyncReport
from .language import LanguageDetector
from .models import Progress, resolve_model
from .pipeline import Pipeline
from .probe import Probe, check_model_runs

log = logging.getLogger(__name__)


def prepare_data_dir(config: Config) -> None:
    """One clear line when the data directory (a volume, in a container) cannot be written."""
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        probe = config.data_dir / ".babeldesk-write-check"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError("data_dir", f"cannot write to {config.data_dir}: "
                          f"{exc.strerror or exc} (in a container: is the data volume mounted "
                          "and writable by the babeldesk user?)") from None


def open_knowledge(config: Config, detector: LanguageDetector,
                   download: bool = True) -> KnowledgeBase:
    prepare_data_dir(config)
    retrieval = config.retrieval
    embedding = retrieval.embedding
    embedder = load_embedder(embedding, config.models_dir, download) if retrieval.dense else None
    second = load_second_embedder(embedding) if retrieval.dense else None
    if embedder is not None and not embedding.calibrated:
        log.warning("retrieval.embedding: relevance_floor and relevance_span are "
                    "multilingual-e5-small's; this model's similarities have their own scale: "
                    "measure them with `babeldesk eval` (README, Choosing the embedding model)")
    return KnowledgeBase(config.knowledge.path, config.data_dir / "knowledge.db", detector,
                         config.knowledge.chunk_chars, embedder, embedding.identity,
                         second=second, by_sentence=embedding.sentences,
                         relevance=embedding.relevance,
                         max_file_bytes=int(config.knowledge.max_file_mb * 1024 * 1024))


def open_history(config: Config) -> History:
    prepare_data_dir(config)
    return History(config.data_dir / "history.db")


#: where `probe_model` remembers which model files run with which llama.cpp build on which CPU
PROBE_FILE = "model-check.json"


def probe_model(config: Config, progress: Progress | None = None,
                download: bool = True) -> tuple[Path, Probe]:
    """The configured GGUF (assembled or downloaded when needed), after one small generation
    with it in a child process (once per model file, build and CPU): a llama.cpp build that
    crashes on this CPU is a `BuildCrash` with the command that fixes it, not a segfault."""
    cfg = config.model
    path = resolve_model(cfg, config.models_dir, progress, download=download)
    prepare_data_dir(config)
    probe = check_model_runs(path, config.data_dir / PROBE_FILE, threads=cfg.threads,
                             gpu_layers=cfg.gpu_layers, flash_attn=cfg.flash_attn)
    if cfg.lora_path is not None:
        # The build runs the model; now the adapter, apart, so a bad one is named as such.
        check_model_runs(path, config.data_dir / PROBE_FILE, threads=cfg.threads,
                         gpu_layers=cfg.gpu_layers, flash_attn=cfg.flash_attn,
                         lora_path=cfg.lora_path, lora_scale=cfg.lora_scale)
    return path, probe


def load_engine(config: Config, progress: Progress | None = None,
                model: Path | None = None) -> Engine:
    """The configured model, ready to generate; `model`: the GGUF `probe_model` gave."""
    cfg = config.model
    if cfg.backend == "openai":
        return OpenAIEngine(cfg.base_url, cfg.name, read_secret(cfg.api_key_env or ""),
                            n_ctx=cfg.n_ctx, timeout=cfg.timeout, retries=cfg.retries,
                            vision=cfg.vision)
    path = model or probe_model(config, progress)[0]
    log.info("loading model %s", path)
    return LlamaEngine(path, n_ctx=cfg.n_ctx, threads=cfg.threads, gpu_layers=cfg.gpu_layers,
                       chat_format=cfg.chat_format, cache_mb=cfg.cache_mb,
                       flash_attn=cfg.flash_attn, mmproj=cfg.mmproj, lora_path=cfg.lora_path,
                       lora_scale=cfg.lora_scale)


@dataclass
class Core:
    config: Config
    pipeline: Pipeline
    knowledge: KnowledgeBase
    history: History
    model: ModelQueue
    index_report: SyncReport

    def close(self) -> None:
        """Finish queued answers, stop watching the knowledge folder, close the databases."""
        self.model.close()
        self.knowledge.close()
        self.history.close()


def open_core(config: Config, engine: Engine | None = None, watch: bool | None = None,
              model_progress: Progress | None = None,
              index_progress: Callable[[int, int], None] | None = None,
              embed_progress: Callable[[int, int], None] | None = None,
              embed_in_background: bool = False) -> Core:
    """Everything the adapters need, ready to answer. `engine` replaces the configured model
    (a test's fake model, or one already loaded). `embed_in_background`: answer at once, with
    passages found by their words until they are embedded (`babeldesk run`)."""
    prepare_data_dir(config)
    actions = load_actions(config)  # a ConfigError before anything is loaded
    detector = config.make_detector()
    detector.warm_up()  # lingua's models load now rather than on a customer's message
    knowledge = open_knowledge(config, detector)
    report = knowledge.sync(full=True, progress=index_progress, embed_progress=embed_progress,
                            embed=not embed_in_background)
    history = open_history(config)
    pruned = history.prune(config.history.max_age_days, config.history.max_turns)
    if pruned:
        log.info("history: %d old turns deleted by the retention settings", pruned)
    try:
        if embed_in_background:
            # Started before the model loads: a first start's download overlaps it.
            knowledge.embed_in_background(embed_progress)
        engine = engine or load_engine(config, model_progress)
    except BaseException:
        knowledge.close()
        history.close()
        raise
    if isinstance(engine, OpenAIEngine):
        try:
            engine.check()
        except ModelError as exc:
            # Answers fail (with an apology) until the server is back; the rest still runs.
            log.error("%s; babeldesk starts anyway and answers once it is reachable", exc)
    queue = ModelQueue(engine, workers=config.model.parallel)
    if watch if watch is not None else config.knowledge.watch:
        knowledge.watch(config.knowledge.watch_interval)
    pipeline = Pipeline(config, detector, knowledge, history, queue, actions=actions)
    return Core(config, pipeline, knowledge, history, queue, report)
