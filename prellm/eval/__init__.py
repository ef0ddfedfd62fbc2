"""``prellm eval``: measure what preprocessing is worth, on labelled data and side by side."""
