"""HTTP routes, one module per resource group, each exporting `routes`."""
