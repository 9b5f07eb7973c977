"""Errors raised for bad user input; the workflow prints them without a traceback."""


class InputError(ValueError):
    """Bad input (config, catalog, image, HDF5 file, server answer), named by file and field."""

    def __init__(self, source, message):
        self.source = str(source)
        super().__init__(f"{source}: {message}")
