"""Local sources: networks from confDir, files and directories, and pod annotations the runtime passes."""
