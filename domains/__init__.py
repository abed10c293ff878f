"""Built-in metasuite domains; each sub-package registers itself under ``metasuite.domains``."""
