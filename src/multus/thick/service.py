"""What the daemon's endpoints do: decode upstream's request, run the engine, encode the answer.

One :class:`Service` (and one :class:`~multus.plugin.manager.Plugins`) serves every request for
the daemon's lifetime, from many threads at once: the engine keeps no module-level state, the
Kubernetes client lives in ``plugins.state``, per-container work is serialised by the cache's
``flock``. Two things of the thin path are *not* done per request here:

* logging is configured once from the daemon configuration (``multus.engine.run.handle``
  reconfigures the ``multus`` logger for every request, which is fine in a one-shot process but
  races between threads of a long-lived one), so :func:`run_engine` is ``handle`` without that;
* loading a hook family's entry points is serialised (:class:`DaemonPlugins`).

Answers follow upstream's server: a CNI error is ``400`` with ``{"code","msg","details"}`` (the
shim re-raises it unchanged); anything else that fails is ``400`` with plain text prefixed
``ContainerID:"…" Netns:"…" IfName:"…" Args:"…" Path:"…" ERRORED: ``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from multus.cni import request as cni_request
from multus.cni.invoke import go_quote
from multus.config import netconf
from multus.engine import run
from multus.engine.models import Delegate, RequestContext
from multus.errors import INTERNAL, INVALID_CONFIG, CNIError
from multus.plugin import hookspec
from multus.plugin.manager import Plugins
from multus.thick.client import REQUESTED_RESULT_KEY, RESULT_KEY
from multus.thick.config import DaemonConfig

if TYPE_CHECKING:
    from multus.thick.metrics import Metrics

log = logging.getLogger("multus.daemon")

RESULT_VERSION = "1.0.0"
"""The version of ``Result`` in an ADD answer: upstream's shim decodes a ``cni100.Result``."""
_POD_VERBS = ("ADD", "CHECK")
"""Verbs that need the pod's identity in CNI_ARGS (upstream's ``kubernetesRuntimeArgs``)."""
_DELEGATE_VERBS = ("ADD", "DEL", "CHECK", "STATUS")


@attrs.frozen
class Answer:
    """One HTTP answer of the daemon."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"

    @classmethod
    def text(cls, status: int, message: str) -> Answer:
        """Go's ``http.Error``: the text and a newline, ``text/plain``."""
        return cls(status, (message + "\n").encode(), "text/plain; charset=utf-8")

    @classmethod
    def cni_error(cls, error: CNIError) -> Answer:
        body = {"code": error.code, "msg": error.msg, "details": error.details}
        return cls(400, json.dumps(body).encode())


class BadRequest(Exception):
    """A request the daemon refuses before running anything (plain-text 400)."""


class DaemonPlugins(Plugins):
    """The daemon's :class:`Plugins`: loads every family and the engine before the first request,
    refuses to start with a plugin that is enabled but missing or broken, and times requests and
    delegates for the metrics."""

    metrics: Metrics | None = None
    """Set by the daemon once its metrics exist."""

    def warm_up(self) -> None:
        """Load every family now; an enabled plugin that is not installed or does not import is a
        :class:`~multus.errors.CNIError` here (the daemon exits 1), not a failure of every request."""
        self.check_enabled_installed()
        for family in hookspec.FAMILIES:
            self.load_family(family)
        import multus.cni.libcni
        import multus.cni.result
        import multus.engine.add
        import multus.engine.check
        import multus.engine.delete
        import multus.engine.plan  # noqa: F401

    def delegate_invoke(self, ctx: RequestContext, delegate: Delegate, command: str,
                        attachments: list[dict[str, str]] | None = None) -> dict[str, Any]:
        start = time.monotonic()
        try:
            return super().delegate_invoke(ctx, delegate, command, attachments)
        finally:
            if self.metrics is not None:
                self.metrics.delegate_done(_plugin_type(delegate.config), command, time.monotonic() - start)

    def request_done(self, ctx: RequestContext, command: str, error: CNIError | None, seconds: float) -> None:
        super().request_done(ctx, command, error, seconds)
        if self.metrics is not None:
            self.metrics.request_done(command, error is None, seconds)


def _plugin_type(config: Mapping[str, Any]) -> str:
    """A delegate's ``type``; a conflist's first plugin's."""
    kind = config.get("type")
    if not kind and isinstance(config.get("plugins"), list) and config["plugins"]:
        first = config["plugins"][0]
        kind = first.get("type") if isinstance(first, dict) else ""
    return kind if isinstance(kind, str) else ""


def run_engine(req: cni_request.CniRequest, plugins: Plugins) -> dict[str, Any] | None:
    """:func:`multus.engine.run.handle` with the daemon's long-lived ``plugins``, without
    reconfiguring logging (the daemon configured it once)."""
    return run.handle(req, plugins, configure_logging=False)


# ---------------------------------------------------------------------------------------------
# request decoding (upstream's api.Request and extractCniData)
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class Incoming:
    """A decoded ``/cni`` or ``/delegate`` body."""

    env: Mapping[str, str]
    config: bytes
    interface_attributes: Mapping[str, Any] | None = None

    @property
    def command(self) -> str:
        return self.env.get("CNI_COMMAND", "")

    def describe(self) -> str:
        """upstream's ``printCmdArgs``."""
        e = self.env
        return (f"ContainerID:{go_quote(e.get('CNI_CONTAINERID', ''))} Netns:{go_quote(e.get('CNI_NETNS', ''))} "
                f"IfName:{go_quote(e.get('CNI_IFNAME', 'eth0'))} Args:{go_quote(e.get('CNI_ARGS', ''))} "
                f"Path:{go_quote(e.get('CNI_PATH', ''))}")

    def pod(self) -> tuple[str, str]:
        """``(namespace, name)`` from CNI_ARGS (empty when absent)."""
        pairs = dict(_split_args(self.env.get("CNI_ARGS", "")))
        return pairs.get("K8S_POD_NAMESPACE", ""), pairs.get("K8S_POD_NAME", "")


def _split_args(text: str) -> list[tuple[str, str]]:
    out = []
    for item in text.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            out.append((key.strip(), value.strip()))
    return out


def decode(body: bytes) -> Incoming:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"invalid request body: {e}") from None
    if not isinstance(data, dict):
        raise BadRequest("invalid request body: expected a JSON object")
    env = data.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise BadRequest("invalid request body: env must be an object of strings")
    raw = data.get("config") or ""
    if not isinstance(raw, str):
        raise BadRequest("invalid request body: config must be a base64 string")
    try:
        config = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadRequest(f"invalid request body: config: illegal base64 data: {e}") from None
    attributes = data.get("interfaceAttributes")
    if attributes is not None and not isinstance(attributes, dict):
        raise BadRequest("invalid request body: interfaceAttributes must be an object")
    return Incoming(env=env, config=config, interface_attributes=attributes)


def _check_env(inc: Incoming, pod_verbs: tuple[str, ...]) -> None:
    """upstream's ``extractCniData`` and ``kubernetesRuntimeArgs`` checks.

    Unlike upstream, DEL needs neither ``CNI_NETNS`` (containerd's second DEL has none) nor the
    pod's name: a DEL must always be able to clean up. Values containing ``=`` are accepted."""
    env = inc.env
    if "CNI_COMMAND" not in env:
        raise BadRequest("could not extract the CNI command args: unexpected or missing CNI_COMMAND")
    cmd = env["CNI_COMMAND"]
    need: tuple[str, ...] = ()
    if cmd in ("ADD", "CHECK"):
        need = ("CNI_CONTAINERID", "CNI_NETNS", "CNI_ARGS")
    elif cmd == "DEL":
        need = ("CNI_CONTAINERID",)
    for key in need:
        if key not in env:
            raise BadRequest(f"could not extract the CNI command args: missing {key}")
    if cmd in pod_verbs:
        ns, name = inc.pod()
        for key, value in (("K8S_POD_NAMESPACE", ns), ("K8S_POD_NAME", name)):
            if not value:
                raise BadRequest(f"could not extract the kubernetes runtime args: missing {key}")


def overlay(stdin: bytes, override: Mapping[str, Any]) -> bytes:
    """upstream's ``overrideCNIConfigWithServerConfig``: every top-level key of the daemon
    configuration replaces the shim's. A config that is not a JSON object is left alone so that
    request validation reports it with its CNI error code."""
    if not override:
        return stdin
    try:
        conf = json.loads(stdin)
    except (ValueError, UnicodeDecodeError):
        return stdin
    if not isinstance(conf, dict):
        return stdin
    conf.update(override)
    if "readinessindicatorfile" not in override and override.get("multusConfigFile", "auto") == "auto" \
            and override.get("multusAutoconfigDir"):
        conf.pop("readinessindicatorfile", None)
    return json.dumps(conf).encode()


class Service:
    """The endpoints' logic; thread-safe."""

    def __init__(self, config: DaemonConfig, plugins: Plugins, base_env: Mapping[str, str]) -> None:
        self.config = config
        self.plugins = plugins
        # The daemon's own environment is what delegates and the Kubernetes client see (as with
        # upstream's daemon); a request contributes only its CNI_* variables.
        self.base_env = {k: v for k, v in base_env.items() if not k.startswith("CNI_")}

    def _env(self, inc: Incoming, stdin: bytes) -> dict[str, str]:
        env = dict(self.base_env)
        env.update({k: v for k, v in inc.env.items() if k.startswith("CNI_")})
        env.setdefault("CNI_IFNAME", "eth0")
        if not env.get("CNI_PATH"):
            # upstream's daemon never uses CNI_PATH; our engine searches it after binDir.
            bin_dir = netconf.DEFAULT_BIN_DIR
            try:
                conf = json.loads(stdin)
                if isinstance(conf, dict) and isinstance(conf.get("binDir"), str) and conf["binDir"]:
                    bin_dir = conf["binDir"]
            except (ValueError, UnicodeDecodeError):
                pass
            env["CNI_PATH"] = bin_dir
        return env

    # --- /cni ----------------------------------------------------------------------------

    def cni(self, body: bytes) -> Answer:
        try:
            inc = decode(body)
            _check_env(inc, _POD_VERBS)
        except BadRequest as e:
            log.error("%s", e)
            return Answer.text(400, str(e))
        cmd, desc = inc.command, inc.describe()
        log.info("%s starting CNI request %s", cmd, desc)
        stdin = overlay(inc.config, self.config.overlay())
        try:
            req = cni_request.from_environ(self._env(inc, stdin), stdin)
            result = run_engine(req, self.plugins)
            answer = self._success(cmd, result)
        except CNIError as e:
            log.error("%s ERRORED: %s", desc, e.msg)
            return Answer.cni_error(e)
        except BaseExceptionGroup as eg:  # noqa: B036 - several delegates failed at once
            err = CNIError(INTERNAL, "; ".join(str(e) for e in eg.exceptions))
            log.error("%s ERRORED: %s", desc, err.msg)
            return Answer.cni_error(err)
        except Exception as e:  # a bug: upstream's plain-text error, never a dead connection
            log.exception("%s ERRORED", desc)
            return Answer.text(400, self._failure(inc, f"internal error: {type(e).__name__}: {e}"))
        log.info("%s finished CNI request %s", cmd, desc)
        return answer

    @staticmethod
    def _failure(inc: Incoming, message: str) -> str:
        if inc.command == "ADD":
            ns, name = inc.pod()
            message = f"error configuring pod [{ns}/{name}] networking: {message}"
        return f"{inc.describe()} ERRORED: {message}"

    @staticmethod
    def _success(cmd: str, result: Mapping[str, Any] | None) -> Answer:
        if cmd != "ADD":
            return Answer(200)
        from multus.cni.result import convert_result

        if not result:
            raise CNIError(INTERNAL, "the ADD produced no result")
        as_requested = dict(result)
        if as_requested.get("cniVersion") in ("1.0.0", "1.1.0"):
            # the same result type in libcni (types100): only the version changes, no need to parse
            result_100 = {**as_requested, "cniVersion": RESULT_VERSION}
        else:
            result_100 = convert_result(as_requested, RESULT_VERSION)
        body = {RESULT_KEY: result_100, REQUESTED_RESULT_KEY: as_requested}
        return Answer(200, json.dumps(body).encode())

    # --- /delegate -----------------------------------------------------------------------

    def delegate(self, body: bytes) -> Answer:
        """Run one delegate configuration for a pod (hot-plug, multus-dynamic-networks-controller).

        The multus configuration is the daemon's own file; no scratch cache, no network-status.
        DEL errors are returned (the pod keeps living)."""
        try:
            inc = decode(body)
            _check_env(inc, ("ADD", "DEL"))
            if inc.command not in _DELEGATE_VERBS:
                raise BadRequest(f"unknown cmd type: {inc.command}")
        except BadRequest as e:
            log.error("%s", e)
            return Answer.text(400, str(e))
        desc = inc.describe()
        log.info("%s starting delegate request %s", inc.command, desc)
        try:
            answer = self._delegate(inc)
        except CNIError as e:
            log.error("%s ERRORED: %s", desc, e.msg)
            return Answer.cni_error(e)
        except Exception as e:
            log.exception("%s ERRORED", desc)
            return Answer.text(400, self._failure(inc, f"internal error: {type(e).__name__}: {e}"))
        log.info("%s finished delegate request %s", inc.command, desc)
        return answer

    def _delegate(self, inc: Incoming) -> Answer:
        from multus.engine import plan
        from multus.engine.selection import NetworkSelection

        conf = netconf.load(self.config.raw)
        req = cni_request.from_environ(self._env(inc, inc.config), inc.config)
        config = dict(req.config)
        name = str(config.get("name", ""))
        plan.validate_delegate_config(config, name)
        self.plugins.enable(conf.plugins)
        ctx = RequestContext(request=req, conf=conf, plugins=self.plugins)
        if req.command in ("ADD", "DEL"):
            pod = self.plugins.source_pod(ctx)
            if pod is not None and not pod.exists:
                ns, pod_name = inc.pod()
                raise CNIError(INVALID_CONFIG, f"pod {ns}/{pod_name} not found")
            ctx.pod = pod
        sel = None
        attributes = inc.interface_attributes or {}
        if attributes:
            ips = attributes.get("ips") or []
            mac = attributes.get("mac") or ""
            cni_args = attributes.get("cni-args")
            if not isinstance(ips, list) or not all(isinstance(i, str) for i in ips):
                raise CNIError(INVALID_CONFIG, "interfaceAttributes.ips: expected an array of strings")
            if not isinstance(mac, str):
                raise CNIError(INVALID_CONFIG, "interfaceAttributes.mac: expected a string")
            if cni_args is not None and not isinstance(cni_args, dict):
                raise CNIError(INVALID_CONFIG, "interfaceAttributes.cni-args: expected an object")
            sel = NetworkSelection(name=name, namespace=inc.pod()[0], ips=tuple(ips), mac=mac, cni_args=cni_args)
            if cni_args:
                config = plan.inject_cni_args(config, cni_args)
        d = plan.finish(ctx, Delegate(config=config, name=name, ifname=req.ifname, master=False, selection=sel))
        out = self.plugins.delegate_invoke(ctx, d, req.command)
        return self._success(req.command, out)
