"""Interactive Plotly reports for researchers: aggregates only, every number protected."""
