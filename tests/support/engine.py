"""Drive a Python dynamic provider the way the Pulumi engine does, without the Pulumi CLI.

`DynamicProviderProcess` starts ``python -u -m pulumi.dynamic`` (what the
``pulumi-resource-pulumi-python`` plugin runs) in the project directory, reads the gRPC port from
its first stdout line and calls Configure / Check / Diff / Create / Read / Update / Delete with
properties serialised by the SDK's own `rpc.serialize_properties`, the provider pickled by
`serialize_provider` into ``__provider``. Every response's wire bytes are kept (`wire`), so a test
can assert what never crosses it.

`to_struct` / `from_struct` / `roundtrip` are the same (de)serialisation for in-process tests: a
value that went through the engine has doubles for numbers, Unknown objects for unknowns.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
PROVIDER_KEY = "__provider"
START_TIMEOUT = 30.0
CALL_TIMEOUT = 60.0


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    # A private loop, as the SDK's provider server does: asyncio.run() would also unset the
    # thread's current loop, which Pulumi's mocks (tests/program) rely on.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def from_struct(struct: struct_pb2.Struct, keep_unknowns: bool = False) -> dict[str, Any]:
    return rpc.deserialize_properties(struct, keep_unknowns)


def roundtrip(props: dict[str, Any], keep_unknowns: bool = False) -> dict[str, Any]:
    """`props` as a provider receives them after a trip through the engine."""
    return from_struct(to_struct(props), keep_unknowns)


def secret(value: Any) -> dict[str, Any]:
    """A value wrapped as the engine marks secrets on the wire."""
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


def urn(type_: str, name: str, *, project: str = "alerting", stack: str = "production") -> str:
    return f"urn:pulumi:{stack}::{project}::pulumi-python:{type_}::{name}"


@dataclass
class DynamicProviderProcess:
    """One ``python -m pulumi.dynamic`` process; use as a context manager."""

    project: str = "alerting"
    stack: str = "production"
    env: dict[str, str] = field(default_factory=dict)  # added to a scrubbed copy of os.environ
    wire: list[bytes] = field(default_factory=list)  # every response, serialised

    def __post_init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self.stub: provider_pb2_grpc.ResourceProviderStub | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> DynamicProviderProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENT_IO_", "PULUMI_", "CHECKLY_"))}
        env.update({"PULUMI_PROJECT": self.project, "PULUMI_STACK": self.stack, **self.env})
        # The plugin passes the engine's address; this SDK's __main__ does not read it.
        self._proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic", "127.0.0.1:0"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        port = self._first_line()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(self._channel).result(timeout=START_TIMEOUT)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self._channel)

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        self._stderr.close()

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def _first_line(self) -> int:
        assert self._proc is not None and self._proc.stdout is not None
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self._proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(START_TIMEOUT)
        if not line or not line[0].strip().isdigit():
            self.stop()
            raise RuntimeError(f"the provider process did not print its port; stderr:\n{self.stderr()}")
        return int(line[0])

    # --- the engine's calls ------------------------------------------------------------------

    def configure(self, config: dict[str, Any], *, secret_keys: tuple[str, ...] = ()) -> None:
        """Stack config as the engine sends it: ``variables`` as text, ``args`` with secrets marked."""
        args = {k: secret(v) if k in secret_keys else v for k, v in config.items()}
        request = provider_pb2.ConfigureRequest(
            variables={k: str(v) for k, v in config.items()},
            args=to_struct(args),
            acceptSecrets=True,
            acceptResources=True,
        )
        self._keep(self._stub.Configure(request, timeout=CALL_TIMEOUT))

    def check(self, urn_: str, olds: dict[str, Any], news: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        request = provider_pb2.CheckRequest(urn=urn_, olds=to_struct(olds), news=to_struct(news))
        response = self._keep(self._stub.Check(request, timeout=CALL_TIMEOUT))
        failures = [f"{f.property}: {f.reason}" for f in response.failures]
        return from_struct(response.inputs, keep_unknowns=True), failures

    def diff(self, urn_: str, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> provider_pb2.DiffResponse:
        request = provider_pb2.DiffRequest(id=id_, urn=urn_, olds=to_struct(olds), news=to_struct(news))
        return self._keep(self._stub.Diff(request, timeout=CALL_TIMEOUT))

    def create(self, urn_: str, properties: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        request = provider_pb2.CreateRequest(urn=urn_, properties=to_struct(properties))
        response = self._keep(self._stub.Create(request, timeout=CALL_TIMEOUT))
        return response.id, from_struct(response.properties)

    def read(
        self, urn_: str, id_: str, properties: dict[str, Any], inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        request = provider_pb2.ReadRequest(
            id=id_, urn=urn_, properties=to_struct(properties), inputs=to_struct(inputs)
        )
        response = self._keep(self._stub.Read(request, timeout=CALL_TIMEOUT))
        return response.id, from_struct(response.properties), from_struct(response.inputs)

    def update(self, urn_: str, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        request = provider_pb2.UpdateRequest(id=id_, urn=urn_, olds=to_struct(olds), news=to_struct(news))
        return from_struct(self._keep(self._stub.Update(request, timeout=CALL_TIMEOUT)).properties)

    def delete(self, urn_: str, id_: str, properties: dict[str, Any]) -> None:
        request = provider_pb2.DeleteRequest(id=id_, urn=urn_, properties=to_struct(properties))
        self._keep(self._stub.Delete(request, timeout=CALL_TIMEOUT))

    @property
    def _stub(self) -> provider_pb2_grpc.ResourceProviderStub:
        if self.stub is None:
            raise RuntimeError("the provider process is not started")
        return self.stub

    def _keep(self, response: Any) -> Any:
        self.wire.append(response.SerializeToString())
        return response


def with_provider(provider: ResourceProvider, props: dict[str, Any]) -> dict[str, Any]:
    """Resource inputs as the program registers them: plus the pickled provider."""
    return {**props, PROVIDER_KEY: serialize_provider(provider)}
