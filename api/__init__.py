"""hubindex.api: the FastAPI service (see the "Query service" issue); it only calls the library."""
