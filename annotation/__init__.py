"""Human review of the discriminator's span labels in Label Studio (stage 3, torch-free).

:mod:`~annotation.server` installs, starts and stops a local Label Studio server; :mod:`~annotation.project` sets
up the review project (labelling config in :mod:`~annotation.config`); :mod:`~annotation.push` sends span rows as
review tasks with pre-annotations and :mod:`~annotation.pull` merges the reviewed spans back as human labels
(offsets converted by :mod:`~annotation.offsets`); :mod:`~annotation.agreement` measures agreement and
:mod:`~annotation.uncertainty` ranks rows for review. Entry points: ``rtt review ...`` and the flows
``push-for-review`` and ``pull-reviews``.
"""

__all__ = ["agreement", "config", "offsets", "project", "pull", "push", "server", "uncertainty"]
