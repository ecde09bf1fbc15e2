"""Image builds: the Dockerfile language, .dockerignore, and the builder that runs them."""
