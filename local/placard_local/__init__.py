"""The laptop: the embedded cloud (moto), the template reader, the runner, serve and the CLI.
Nothing here ships to Lambda."""
