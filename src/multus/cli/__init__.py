"""The executables: multus (thin), multus-shim, multus-daemon, multusctl."""
