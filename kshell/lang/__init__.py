"""The command language: the grammar of a line, the declarations and the registry."""
