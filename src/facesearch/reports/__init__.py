"""Reports for people: the subject access report, the transparency report, the model card, the
evaluation report and a collection's contact sheet. Every HTML page is rendered by
:mod:`facesearch.reports.rendering` from the templates in ``templates/``, with the product's one
stylesheet (``static/facesearch.css``)."""
