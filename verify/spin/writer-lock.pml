/*
 * writer-lock.pml: the objects' embedded writer lock (src/sync/writer-lock.ts,
 * a robust Mutex) abstracted to an atomic robust test-and-set, and the Killer
 * (included, not a model of its own; mutex.pml checks the real lock).
 *
 * The word holds its holder's tid (0: free). Taking it succeeds when it is
 * free or its holder is marked dead in the domain table; a takeover from a
 * dead holder is the OwnerDiedError after which the object repairs
 * (took_over true: StateBuffer / SnapshotStore count it, SharedMap rolls the
 * dead writer's commit back).
 *
 * Needs from the includer: NTIDS (tids are 1 .. NTIDS - 1), KILLABLE (the
 * Killer may kill tids 1 .. KILLABLE), DEATHS; in a locking process: tid.
 */

byte wl;                 /* holder tid, 0 free */
bool dead[NTIDS];        /* the domain table: marked dead (Domain.markDead, by the supervisor) */
bool killed[NTIDS];      /* stopped (a worker terminated); marked dead some time later */
byte deaths;

/* writer.lock(): took_over when the holder it replaced was dead */
inline wl_lock(took_over) {
  atomic {
    (wl == 0 || dead[wl]) ->
    took_over = (wl != 0);
    wl = tid
  }
}

/* writer.unlock() */
inline wl_unlock() {
  wl = 0
}

/* Kills at most DEATHS of tids 1 .. KILLABLE at any point, then marks it dead, later. */
inline killer() {
  byte kv;
  if
  :: deaths < DEATHS ->
     atomic { select(kv : 1 .. KILLABLE); killed[kv] = true; deaths++ };
     dead[kv] = true
  :: true
  fi
}
