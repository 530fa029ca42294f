"""Everything of a search that is Ray's, and the only code of actsearch that imports Ray.

- :mod:`~actsearch.search.ray.cluster`: a private local Ray instance, or a cluster joined at its head;
- :mod:`~actsearch.search.ray.placement`: the device and the resources of each trial (no Ray import);
- :mod:`~actsearch.search.ray.shipping`: what a cluster's nodes get (``working_dir``, ``py_modules``);
- :mod:`~actsearch.search.ray.tune`: the driver as a Tune searcher, ASHA, lost workers;
- :mod:`~actsearch.search.ray.trainable`: the Tune trainable, around the trial's supervisor;
- :mod:`~actsearch.search.ray.triage`: Ray's errors in one line (the workers' environment, a lost node);
- :mod:`~actsearch.search.ray.ray_log`: Ray's own messages to ``ray.log``;
- :mod:`~actsearch.search.ray.options`: the ``--logger`` names and Tune callbacks a search takes.
"""
