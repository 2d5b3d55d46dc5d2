"""Honour campaigns: nomination, consent, voting, review, public notice, objections, announcement."""
