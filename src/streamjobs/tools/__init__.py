"""Developer tools: a throwaway luigid on loopback, the README's luigid screenshot."""
