/**
 * The thread that owns a 25-double state in the `peers/rpc` case: it
 * publishes at {@link OWNER_HZ} into a StateBuffer (what main reads with
 * `readInto`, lock-free) and pushes the same words into a ringbuf.js queue
 * (what main drains to the newest), and answers, for the alternatives without shared
 * memory, comlink calls (`latest()`, exposed on one MessagePort) and raw
 * `postMessage` requests (on another), each with its current version and
 * state. Every version carries the checksummed payload of payload.ts, so
 * main checks what each way returned. Main terminates it when done.
 *
 * @module
 */
import { workerData, type MessagePort } from 'node:worker_threads'
import * as Comlink from 'comlink'
import { RingBuffer } from 'ringbuf.js'
import { StateBuffer, type StateBufferHandle } from 'threadstate'
import { nodeEndpoint } from '../peers-comlink.js'
import { OWNER_HZ } from './kinds.js'
import { PAYLOAD, State25, fillPayload } from './payload.js'

/** `workerData` of peer-owner.ts. */
export interface PeerOwnerData {
  readonly state: StateBufferHandle<typeof State25>
  /** comlink's endpoint (transferred). */
  readonly comlink: MessagePort
  /** Raw request/response port (transferred): any message is answered with a {@link PeerOwnerReply}. */
  readonly raw: MessagePort
  /** Storage of a ringbuf.js `RingBuffer` of doubles: every version's 25 words are pushed there too (dropped when it has no room for all 25). */
  readonly ring: SharedArrayBuffer
}

/** What the owner answers, both ways. */
export interface PeerOwnerReply {
  readonly version: number
  readonly a: readonly number[]
}

/** The API comlink exposes. */
export interface PeerOwnerApi {
  latest(): PeerOwnerReply
}

function main(data: PeerOwnerData): void {
  const buffer = StateBuffer.attach(data.state, State25)
  const state = { a: new Array<number>(PAYLOAD).fill(0) }
  const ring = new RingBuffer(data.ring, Float64Array)
  const words = new Float64Array(PAYLOAD)
  let version = buffer.version
  const publish = (): void => {
    version++
    fillPayload(state.a, version)
    buffer.publish(state, { source: 'owner' })
    // A queue: a state that does not fit whole is dropped (a partial push would split the stream's framing).
    words.set(state.a)
    if (ring.availableWrite() >= PAYLOAD) ring.push(words)
  }
  publish()
  setInterval(publish, 1000 / OWNER_HZ)
  const api: PeerOwnerApi = { latest: () => ({ version, a: state.a }) }
  Comlink.expose(api, nodeEndpoint(data.comlink))
  data.raw.on('message', () => data.raw.postMessage({ version, a: state.a } satisfies PeerOwnerReply))
}

main(workerData as PeerOwnerData)
