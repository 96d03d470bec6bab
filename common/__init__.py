"""Facts and rules shared by every stage, with no TensorFlow and no R: the error that means
"bad input" (exit 2), atomic file writes, the safe-output rule for output folders, and the
lock on a training folder.  Every other package may import this one; it imports none of them.
"""
