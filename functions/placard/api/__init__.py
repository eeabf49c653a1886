"""The HTTP API's parts: request models, the job service, signatures, callbacks."""
