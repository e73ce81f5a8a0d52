"""One router per resource: the page and its files, health, estimates, effects, the model card."""
