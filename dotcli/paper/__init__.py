"""What belongs to the DOT paper (Tanaka, NeurIPS 2019) rather than to dotcli: its published numbers
(:mod:`dotcli.paper.published`) and the order and titles of its tables (:mod:`dotcli.paper.tables`).
The grids themselves are the experiment configs (``configs/experiment/*_table.yaml``)."""
