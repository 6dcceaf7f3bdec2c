"""Month-end forecasts with prediction intervals, and their backtest: `forecast()` in
`query.py` is the entry point; the model is numpy over daily cost matrices (`model.py`)."""
