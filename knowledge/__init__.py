"""Documents into knowledge bases: loading, chunking and the Chroma store."""
