"""The clinician portal: server-rendered pages (Django templates, htmx for live status) over the services."""
