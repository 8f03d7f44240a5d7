"""The module service: an MBS-shaped REST API over the registry, served by the master.

:mod:`.api` is the twisted.web resource mounted at ``/module-build-service/`` on
Buildbot's web root (:class:`.api.ModuleService`, one line in the configurator);
:mod:`.queries` turns query strings and registry records into MBS's JSON shapes;
:mod:`.stack` resolves a module's dependency stack to concrete builds;
:mod:`.openapi` describes it all (docs/module-service.md).
"""
