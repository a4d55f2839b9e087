"""``multusctl``: the node administrator's tool (install, explain, gc, status).

Every command imports what it needs inside its own function, so ``multusctl --help`` and shell
completion load only ``click``.
"""
