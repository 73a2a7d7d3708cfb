"""The one object the pages and the command line work through: settings, the catalogue of targets, clients,
S3 and history."""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

from . import images, runner, services, targets
from .clients import Clients
from .config import Settings
from .errors import LocalCloudError
from .history import History
from .metrics import MetricsPublisher
from .outbox import FlushResult, Flusher
from .records import ProviderResult, Run, TextDelta
from .services.base import Service
from .storage import ImageStore

log = logging.getLogger(__name__)


class Workbench:
    def __init__(self, settings: Settings, clients: Clients | None = None, catalogue: targets.Catalogue | None = None) -> None:
        self.settings = settings
        self.catalogue = catalogue or targets.load(settings)
        self.enabled = self.catalogue.enabled(settings)  # a name MCV_TARGETS gives that is not there: an error now
        self.clients = clients or Clients(settings)
        self.store = ImageStore(settings, self.clients)
        self.history = History(settings, self.clients)
        self.flusher = Flusher(self.history.flush_outbox, self.history.outbox_waiting)  # runs kept in the outbox
        self.metrics = MetricsPublisher.for_clients(self.clients, enabled=settings.metrics)  # never blocks a call
        self._bound: dict[str, Service] = {}
        self._lock = threading.Lock()  # benchmark threads ask for targets at once
        # The working size of a decoded upload covers what every target of the catalogue wants, no more.
        self.image_specs = tuple({t.image_spec.name: t.image_spec for t in self.catalogue.targets}.values())

    @classmethod
    def open(cls, settings: Settings | None = None, *, start_local: bool = True, quiet: bool = False) -> "Workbench":
        """A workbench for `settings` (default: from the environment); in local mode the local cloud is started
        if needed, and told the catalogue's Azure deployments (as Terraform creates them in Azure)."""
        settings = settings or Settings.load()
        catalogue = targets.load(settings)
        catalogue.enabled(settings)
        if settings.is_local and start_local:
            from .local.control import deploy_catalogue, up

            up(settings, quiet=quiet)
            try:
                deploy_catalogue(settings, catalogue)
            except LocalCloudError as exc:  # the model APIs are down: each Azure target says so in its own column
                log.warning("%s", exc.user_text())
        return cls(settings, catalogue=catalogue)

    def target(self, target_id: str) -> Service:
        """The service bound to this target (one per workbench: its concurrency slots are shared)."""
        with self._lock:
            if target_id not in self._bound:
                self._bound[target_id] = services.bind(self.catalogue.get(target_id), self.settings, self.clients)
            return self._bound[target_id]

    def load_image(self, data: bytes, name: str = "") -> images.SourceImage:
        return images.load_image(
            data, name, max_bytes=self.settings.max_image_bytes, max_pixels=self.settings.max_pixels, specs=self.image_specs
        )

    def compare(
        self,
        image: images.SourceImage,
        target_ids: Sequence[str],
        prompt: str | None = None,
        *,
        source: str = "cli",
        bench_id: str | None = None,
        sweep_id: str | None = None,
        concurrency: int | None = None,
        expected: Sequence[str] = (),
        on_result: Callable[[ProviderResult], None] | None = None,
        on_text: Callable[[TextDelta], None] | None = None,
    ) -> Run:
        """Store the image, run every target on it at once, record the run; returns the run with its results.

        `on_text` gets each streamed answer as it grows (records.TextDelta) and `on_result` each result as it
        comes, both on the calling thread. A sweep's requests carry its `sweep_id` and the `concurrency` level.
        Results that cannot be written to the table are kept in the local outbox (`run.deferred`); runs waiting
        there are written first, when the table is reachable.
        """
        chosen = [self.target(name) for name in target_ids]
        self.flusher.maybe_flush()
        run = Run.new(
            image,
            prompt or self.settings.default_prompt,
            target_ids,
            source=source,
            bench_id=bench_id,
            sweep_id=sweep_id,
            concurrency=concurrency,
            expected=tuple(expected),
        )
        run.image_key = self.store.upload(image, run.created_at)
        runner.compare(chosen, run, on_result, on_text)
        run.saved = self.history.save(run)
        self.metrics.publish(run.results)  # after the save: a result never waits for its metrics
        return run

    # --- the outbox ----------------------------------------------------------------------------------------
    def flush_outbox(self) -> FlushResult:
        """Write the runs waiting in the local outbox now (the command line does this first)."""
        return self.flusher.flush()

    def start_flusher(self) -> None:
        """For long-lived processes (the app): flush the outbox in the background while runs wait."""
        self.flusher.start()

    def close(self) -> None:
        """Stop the background flusher, if one runs, and send the metrics still queued."""
        self.flusher.stop()
        self.metrics.close()
