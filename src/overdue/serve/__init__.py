"""The counselor service (``overdue serve``): page, API and guards over a published snapshot.

``app.create_app`` builds the FastAPI app; ``docs/serve.md`` describes what it does and why.
"""
