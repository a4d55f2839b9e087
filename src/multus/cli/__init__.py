"""The executables: multus (the thin CNI plugin) and passthru (head of the auxiliary chain)."""
