"""Use cases: each public function is one thing a caller can do. Routes call exactly one of them."""
