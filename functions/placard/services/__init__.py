"""What placard does, on the domain and its ports: pipeline, ingest, endings, estimates."""
