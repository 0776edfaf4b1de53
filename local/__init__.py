"""Local stack: the emulators and the glue that the tests and ``make run`` share."""
