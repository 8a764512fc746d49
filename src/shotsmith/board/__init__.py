"""Storyboards (issue 23): a named board of shots, each rendered as takes, one picked per shot,
cut together into one MP4 with a shot list beside it. See docs/storyboard.md."""
