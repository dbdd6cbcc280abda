"""Write side of clausewise: documents → cleaned text → cited passages → embeddings → index."""
