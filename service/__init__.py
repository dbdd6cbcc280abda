"""Read side of clausewise: the index → retrieval → HTTP API and CLI answers."""
