"""Proxy-run simulator: a low-rank bigram LM trained in numpy on synthetic Markov-chain domains."""
