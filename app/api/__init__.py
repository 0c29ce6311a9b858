"""HTTP routes: thin functions that parse, call one service function and shape the answer."""
