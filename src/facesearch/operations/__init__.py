"""The entry points' work: enrollment, search (1:N, 1:1, clusters) and administration (erasure,
subject access, calibration), each a service given a :class:`~facesearch.governance.context.Context`;
the :class:`~facesearch.engine.Engine` facade composes them."""
