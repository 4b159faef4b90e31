"""The REST API for integrations (EHRs, intake apps, research pipelines), under /api/v1/.

Views validate input, call one service or selector, and serialise; clinic scoping, roles and the audit
trail live in the services and selectors they call.
"""
