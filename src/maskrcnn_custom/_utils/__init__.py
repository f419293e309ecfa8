"""Small shared helpers every layer of the library may use; this package imports nothing else of it."""

__all__: list[str] = []
