"""The CNI protocol: environment, versions, results, invoking plugins, libcni's cache."""
