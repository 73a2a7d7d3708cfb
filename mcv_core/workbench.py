"""The one object the pages and the command line work through: settings, clients, providers, S3, history."""

from __future__ import annotations

import threading
from typing import Callable, Sequence

from . import images, providers, runner
from .clients import Clients
from .config import Settings
from .history import History
from .outbox import FlushResult, Flusher
from .providers.base import Provider, ProviderResult
from .runner import Run
from .storage import ImageStore


class Workbench:
    def __init__(self, settings: Settings, clients: Clients | None = None) -> None:
        self.settings = settings
        self.clients = clients or Clients(settings)
        self.store = ImageStore(settings, self.clients)
        self.history = History(settings, self.clients)
        self.flusher = Flusher(self.history.flush_outbox, self.history.outbox_waiting)  # runs kept in the outbox
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()  # benchmark threads ask for providers at once

    @classmethod
    def open(cls, settings: Settings | None = None, *, start_local: bool = True, quiet: bool = False) -> "Workbench":
        """A workbench for `settings` (default: from the environment); in local mode the local cloud is started if needed."""
        settings = settings or Settings.load()
        if settings.is_local and start_local:
            from .local.control import up

            up(settings, quiet=quiet)
        return cls(settings)

    def provider(self, name: str) -> Provider:
        with self._lock:
            if name not in self._providers:
                self._providers[name] = providers.create(name, self.settings, self.clients)
            return self._providers[name]

    def load_image(self, data: bytes, name: str = "") -> images.SourceImage:
        return images.load_image(data, name, max_bytes=self.settings.max_image_bytes, max_pixels=self.settings.max_pixels)

    def compare(
        self,
        image: images.SourceImage,
        provider_names: Sequence[str],
        prompt: str | None = None,
        *,
        source: str = "cli",
        bench_id: str | None = None,
        expected: Sequence[str] = (),
        on_result: Callable[[ProviderResult], None] | None = None,
    ) -> Run:
        """Store the image, run every provider on it at once, record the run; returns the run with its results.

        Results that cannot be written to the table are kept in the local outbox (`run.deferred`); runs waiting
        there are written first, when the table is reachable.
        """
        chosen = [self.provider(name) for name in provider_names]
        self.flusher.maybe_flush()
        run = Run.new(
            image,
            prompt or self.settings.default_prompt,
            provider_names,
            source=source,
            bench_id=bench_id,
            expected=tuple(expected),
        )
        run.image_key = self.store.upload(image, run.created_at)
        runner.compare(chosen, run, on_result)
        run.saved = self.history.save(run)
        return run

    # --- the outbox ----------------------------------------------------------------------------------------
    def flush_outbox(self) -> FlushResult:
        """Write the runs waiting in the local outbox now (the command line does this first)."""
        return self.flusher.flush()

    def start_flusher(self) -> None:
        """For long-lived processes (the app): flush the outbox in the background while runs wait."""
        self.flusher.start()

    def close(self) -> None:
        """Stop the background flusher, if one runs."""
        self.flusher.stop()
