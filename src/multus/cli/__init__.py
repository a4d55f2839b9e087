"""The executables: multus (thin), multus-shim and multus-daemon (thick mode), passthru (head of the auxiliary chain)."""
