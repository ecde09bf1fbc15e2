"""The command lines: ``berth`` (``main``: Docker's CLI, a client of berthd's API),
``berth-runtime`` (``runtime``: runc's) and ``berthd`` (``daemon``)."""
