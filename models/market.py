"""The points market (积分超市): rewards, stock movements, redemptions with pickup codes."""
