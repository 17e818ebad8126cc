"""Reports for people: the subject access report, the transparency report, the model card and the
evaluation report."""
