/**
 * A worker of the `runtime/race` bench: with the others of its crew, moves
 * one machine round its cycle (ready → walking → stopped → ready, see
 * runtime-kinds.ts) flat out until main raises STOP, one kind per round:
 *
 * - StateMachine: `s = fsm.state`, then `fsm.transition(NEXT[s], { from: s })`;
 * - Guarded: the same through the Mutex-guarded variable (runtime-guarded.ts).
 *
 * With `from`, a racer that read the state before another moved it is
 * refused (nothing else can refuse: NEXT[s] is always allowed from s). It
 * counts the transitions it made and those refused; main checks them against
 * the machine's own counters.
 *
 * @module
 */
import { workerData } from 'node:worker_threads'
import { StateMachine } from 'threadstate'
import { Ctl, serveRounds } from './crew.js'
import { GuardedState } from './runtime-guarded.js'
import { MACHINE, NEXT, RaceKind, RaceResults, type MachineState, type RaceData } from './runtime-kinds.js'

/** Attempts between two looks at STOP (one look is an Atomics.load). */
const UNROLL = 16

function main(data: RaceData): Promise<void> {
  const control = new Int32Array(data.control)
  const results = new Float64Array(data.results)
  const fsm = StateMachine.attach<MachineState>(data.machine)
  const guarded = GuardedState.attach<MachineState>(data.guarded, MACHINE)
  const at = 2 * data.index

  function raceMachine(): void {
    let made = 0
    let refused = 0
    while (Atomics.load(control, Ctl.STOP) === 0) {
      for (let k = 0; k < UNROLL; k++) {
        const s = fsm.state
        if (fsm.transition(NEXT[s], { from: s })) made++
        else refused++
      }
    }
    results[at + RaceResults.MADE] = made
    results[at + RaceResults.REFUSED] = refused
  }

  function raceGuarded(): void {
    let made = 0
    let refused = 0
    while (Atomics.load(control, Ctl.STOP) === 0) {
      for (let k = 0; k < UNROLL; k++) {
        const s = guarded.state
        if (guarded.transition(NEXT[s], s)) made++
        else refused++
      }
    }
    results[at + RaceResults.MADE] = made
    results[at + RaceResults.REFUSED] = refused
  }

  return serveRounds(control, (kind) => {
    if (kind === RaceKind.StateMachine) raceMachine()
    else if (kind === RaceKind.Guarded) raceGuarded()
    else throw new Error(`Expected a RaceKind, got ${kind}`)
  })
}

await main(workerData as RaceData)
