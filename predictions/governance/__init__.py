"""Pages for reviewers and clinic administrators: the review queue, the audit trail, model versions and
real-world performance."""
