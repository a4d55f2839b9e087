"""The thin-mode multus config for ``multusctl install``, from the installer's flags.

The generation itself (choosing the primary, the conf/conflist layout, the capability union)
belongs to :mod:`multus.config.generate`, shared with the daemon's config manager; this module
only maps the thin entrypoint's flags onto it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multus.config.generate import ThinOptions
    from multus.ctl.install import Settings


def generate(s: Settings) -> tuple[str, bytes, str]:
    """(file name, content, primary path); raises InstallError when no config can be made."""
    from multus.config import generate as gen
    from multus.ctl.install import InstallError

    try:
        result = gen.generate_thin(s.multus_autoconfig_dir, s.multus_master_cni_file_name, options(s))
    except gen.GenerateError as e:
        raise InstallError(str(e)) from None
    return result.name, result.data, result.primary


def options(s: Settings) -> ThinOptions:
    """The flags that shape the generated configuration."""
    from multus.config.generate import ThinOptions

    return ThinOptions(
        kubeconfig=s.multus_kubeconfig_file_host, cni_version=s.cni_version,
        force_cni_version=s.force_cni_version, override_network_name=s.override_network_name,
        conf_dir=s.multus_cni_conf_dir, namespace_isolation=s.namespace_isolation,
        global_namespaces=s.global_namespaces, log_to_stderr=s.multus_log_to_stderr,
        log_level=s.multus_log_level, log_file=s.multus_log_file, additional_bin_dir=s.additional_bin_dir,
        readiness_indicator_file=s.readiness_indicator_file)
