/*
 * futex.pml: Atomics.wait / Atomics.notify on a word of mem[], shared by the
 * models (included, not a model of its own).
 *
 * ECMA-262 keeps one WaiterList per word and RemoveWaiters takes waiters from
 * its front, so notify(word, 1) wakes the sleeper that went to sleep first on
 * that word. One channel of (word, pid) pairs with `??` (first matching
 * message) is exactly that: FIFO per word.
 *
 * A sleep whose `may_timeout` is true can also end by itself at any moment:
 * that is how every sliced wait of src/sync/wait.ts (sleepWhile,
 * sleepWhileAsync: at most SLICE_MS per sleep) and every finite timeout is
 * modelled. Time itself is not modelled: a slice is "some time later,
 * nondeterministically". A sleep with may_timeout false ends only by a notify:
 * a model run with all sleeps unsliced checks that the wake-up protocol alone
 * keeps everyone going, without leaning on the slices.
 *
 * Needs: int mem[], NPROC (number of processes, pids 0..NPROC-1).
 */

#define W_OK        0   /* woken by a notify ("ok") */
#define W_NOT_EQUAL 1   /* the word did not hold the value ("not-equal") */
#define W_TIMED_OUT 2   /* the slice or the timeout ended ("timed-out") */
#define W_ASLEEP    3   /* internal */

chan wq = [NPROC] of { byte, byte };  /* (word index, pid), FIFO */
bool woken[NPROC];
byte fx_who;                    /* temporaries used inside atomic steps only */
byte fx_cnt;

/* Atomics.wait(mem, A, V, slice): compare and enqueue in one step, then sleep. */
inline fwait(A, V, may_timeout, res) {
  atomic {
    if
    :: mem[A] != V -> res = W_NOT_EQUAL
    :: else -> woken[_pid] = false; wq!A,_pid; res = W_ASLEEP
    fi
  };
  if
  :: res == W_ASLEEP ->
     if
     :: atomic { woken[_pid] -> woken[_pid] = false; res = W_OK }
     :: atomic { (may_timeout) && wq??[eval(A),eval(_pid)] -> wq??eval(A),eval(_pid); res = W_TIMED_OUT }
     fi
  :: else
  fi
}

/* Atomics.notify(mem, A, N): wakes the first N sleepers on word A (N = 255: all). */
inline fnotify(A, N) {
  atomic {
    fx_cnt = 0;
    do
    :: fx_cnt < N && wq??[eval(A),_] -> wq??eval(A),fx_who; woken[fx_who] = true; fx_cnt++
    :: else -> break
    od;
    fx_cnt = 0; fx_who = 0
  }
}

/* A thread that dies while asleep leaves the WaiterList (V8 wakes a terminated
   thread to run its termination, which removes its waiter). */
inline fleave() {
  atomic { if :: wq??[_,eval(_pid)] -> wq??_,eval(_pid) :: else fi; woken[_pid] = false }
}

#define NOTIFY_ALL 255
