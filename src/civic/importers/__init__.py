"""Importers: read an estate kept in another layout and write it as a Civic estate.

    moj          one cloud-platform-environments namespace folder → environment fields [pure]
    documents    multi-document YAML with real line numbers                            [pure]
    terraform    resources/*.tf module sources → backing services                      [pure]
    hclscan      a fast scan of an HCL file's blocks, for terraform                    [pure]
    normalise    free-form values → Civic's vocabulary                                 [pure]
    assembly     all namespaces → estate texts, checked as civic validate checks       [pure]
    report       what was mapped, normalised and skipped, and why                      [pure]
    importing    reading the checkout and writing the estate in one move               [I/O]

Layer: above spec (it builds spec files and checks them with civic.spec.estate), below
cli. The CLI's ``civic import`` group (civic.cli.importer) is the only caller.
"""
