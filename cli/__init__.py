"""hubindex.cli: the click command line; it only calls the library."""
