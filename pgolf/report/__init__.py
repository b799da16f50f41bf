"""Reports drawn from run folders and record folders: training curves and the leaderboard plot."""
