"""Retrieval evaluation on question sets with gold answers (`clausewise eval`)."""
