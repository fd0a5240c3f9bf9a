"""The reads of a socket's opening after its session (room and membership, history page)."""

from mychannels.runtime.asyncdb import Reads

# A socket opening is the hot path of a connect storm: these reads run on the event loop on
# PostgreSQL, on threads of their own elsewhere (mychannels/runtime/asyncdb.py). What it
# bought is in docs/performance.md.
OPENING_READS = Reads("opening-reads")
