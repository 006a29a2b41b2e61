/**
 * Persistence of SnapshotStore snapshots to disk (`threadstate/node`).
 *
 * A file is written whole or not at all: the bytes go to a temporary file in
 * the same directory, which is fsync'ed, closed, and renamed over the target
 * (an atomic replacement on POSIX file systems); then the directory is
 * fsync'ed so the rename itself survives a power cut. A crash at any instant
 * leaves either the old file or the new one, never a mix.
 *
 * ```
 *  offset  size  field
 *       0     8  magic "TSSNAP\0\n"
 *       8     4  format version (u32 LE) = 2
 *      12     4  payload length (u32 LE)
 *      16     8  snapshot version (f64 LE)
 *      24     8  timestamp, ms since the epoch (f64 LE)
 *      32    32  SHA-256 of bytes 8..32 (the fields above) and the payload
 *      64     n  payload: the snapshot, encoded as in shared memory (msgpack)
 * ```
 *
 * A file that is truncated, has another magic or format version, whose
 * checksum does not match or whose payload does not decode is refused with
 * `SnapshotFileError`; so is a path that is not a regular file (a FIFO
 * would hang the read). A save writes every byte (a write may write fewer
 * than asked, e.g. under a file-size limit), reads the temporary file back
 * and renames it only if it holds exactly what was meant: it never replaces
 * a good file with a bad one, and it fails loudly. Temporary files left by
 * a killed save are removed by the next save or restore of that path.
 * `restoreSnapshotStore` keeps the saved version, so versions never go back
 * across a restart.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { decode, encode, encodeWithFlags } from '../encoding/values.js'
import { OptionError, ThreadstateError, describe } from '../errors.js'
import { SnapshotStore, snapshotMirrorOf, type SnapshotStoreOptions } from '../snapshot/snapshot-store.js'

/** SHA-256 of a file's header fields (bytes 8..32) and payload: every byte but the magic and the checksum itself. */
function checksum(file: Buffer): Buffer {
  return createHash('sha256').update(file.subarray(8, 32)).update(file.subarray(HEADER_BYTES)).digest()
}

/** A snapshot file cannot be used: truncated, corrupted, or of another format. */
export class SnapshotFileError extends ThreadstateError {
  /** Always `'SnapshotFileError'`. */
  override name = 'SnapshotFileError'
}

const MAGIC = Buffer.from('TSSNAP\0\n', 'latin1')
/** 2: the checksum covers the header fields too (1 covered only the payload, so a flipped version or timestamp went unnoticed). */
const FORMAT_VERSION = 2
const HEADER_BYTES = 64

/** What a snapshot file holds. */
export interface SnapshotFile<T> {
  /** The snapshot. */
  readonly value: T
  /** Its version in the store that saved it. */
  readonly version: number
  /** When it was published, ms since the epoch. */
  readonly timestamp: number
}

/** What a save wrote. */
export interface SavedSnapshot {
  /** Version of the snapshot written. */
  readonly version: number
  /** Size of the file. */
  readonly bytes: number
}

/** What {@link restoreSnapshotStore} returns. */
export interface RestoredStore<T> {
  /** The new store. */
  readonly store: SnapshotStore<T>
  /** The file it started from, or undefined if there was none. */
  readonly restored: SnapshotFile<T> | undefined
}

/** Test hook: where a save stops, as if the process died there. @internal */
export type CrashPoint = 'after-open' | 'mid-write' | 'after-write' | 'after-fsync' | 'after-rename'

/** Options of {@link saveSnapshot}. */
export interface SaveOptions {
  /** @internal simulate a crash at this step (the temporary file is left behind, as a crash would). */
  readonly crashAt?: CrashPoint
}

class SimulatedCrash extends Error {}

function encodeFile(value: unknown, version: number, timestamp: number): Buffer {
  const payload = encode(value)
  const file = Buffer.alloc(HEADER_BYTES + payload.length)
  MAGIC.copy(file, 0)
  file.writeUInt32LE(FORMAT_VERSION, 8)
  file.writeUInt32LE(payload.length, 12)
  file.writeDoubleLE(version, 16)
  file.writeDoubleLE(timestamp, 24)
  file.set(payload, HEADER_BYTES)
  checksum(file).copy(file, 32)
  return file
}

/**
 * Writes `store`'s latest snapshot to `path`, atomically.
 * @returns the version and byte size written
 */
export async function saveSnapshot<T>(store: SnapshotStore<T>, path: string, options: SaveOptions = {}): Promise<SavedSnapshot> {
  const { value, version, timestamp } = store.latest()
  return writeSnapshotFile(path, value, version, timestamp, options)
}

/** Writes a snapshot file atomically (see the module doc). */
export async function writeSnapshotFile(
  path: string,
  value: unknown,
  version: number,
  timestamp: number,
  options: SaveOptions = {},
): Promise<SavedSnapshot> {
  if (typeof path !== 'string' || path === '') throw new OptionError(`Expected \`path\` to be a file path, got ${describe(path)}`)
  const file = encodeFile(value, version, timestamp)
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const crash = options.crashAt
  await removeStaleTemps(path)
  inFlight.add(temp)
  let handle: FileHandle
  try {
    handle = await open(temp, 'w', 0o644)
  } catch (error) {
    inFlight.delete(temp)
    throw error
  }
  let renamed = false
  try {
    if (crash === 'after-open') throw new SimulatedCrash()
    if (crash === 'mid-write') {
      await handle.write(file, 0, file.length >> 1, 0)
      throw new SimulatedCrash()
    }
    await writeWhole(handle, file, temp)
    if (crash === 'after-write') throw new SimulatedCrash()
    await handle.sync()
    if (crash === 'after-fsync') throw new SimulatedCrash()
    await handle.close()
    // Read back before it replaces anything: a file system that lost or
    // changed bytes (or a limit that cut the file) leaves the old file alone.
    const written = await readFile(temp)
    if (!written.equals(file)) {
      throw new SnapshotFileError(`Expected the temporary file ${temp} to read back as the ${file.length} bytes written, got ${written.length} bytes that differ: ${path} was left as it was`)
    }
    await rename(temp, path)
    renamed = true
    if (crash === 'after-rename') throw new SimulatedCrash()
    await syncDirectory(dirname(path))
    return { version, bytes: file.length }
  } catch (error) {
    if (error instanceof SimulatedCrash) throw new ThreadstateError(`simulated crash at ${crash}`)
    await handle.close().catch(() => {})
    if (!renamed) await unlink(temp).catch(() => {})
    throw error
  } finally {
    if (crash !== undefined && !renamed) await handle.close().catch(() => {})
    inFlight.delete(temp)
  }
}

/**
 * Writes all of `file` (a write may write less than asked: a file-size limit
 * cuts it short; the next write then fails with the reason).
 */
async function writeWhole(handle: FileHandle, file: Buffer, temp: string): Promise<void> {
  for (let at = 0; at < file.length; ) {
    const { bytesWritten } = await handle.write(file, at, file.length - at, at)
    if (bytesWritten <= 0) throw new SnapshotFileError(`Expected to write ${file.length} bytes to ${temp}, got ${at} written and then none`)
    at += bytesWritten
  }
}

/** Temporary files of saves to `path` in progress in this process (not to be cleaned up). */
const inFlight = new Set<string>()

/**
 * Removes temporary files a killed save of `path` left behind: those of
 * processes that no longer run, and this process's that no save is writing.
 */
async function removeStaleTemps(path: string): Promise<void> {
  const prefix = `.${basename(path)}.`
  let names: string[]
  try {
    names = await readdir(dirname(path))
  } catch {
    return
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue
    const pid = Number(name.slice(prefix.length).split('.')[0])
    const full = join(dirname(path), name)
    if (!Number.isInteger(pid) || inFlight.has(full)) continue
    if (pid !== process.pid && processRuns(pid)) continue
    await unlink(full).catch(() => {})
  }
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await handle.close()
  }
}

/**
 * Reads a snapshot file written by {@link saveSnapshot}.
 * @throws SnapshotFileError if it is truncated, corrupted or of another format
 * @throws the file system's error (ENOENT, ...) if it cannot be read
 */
export async function loadSnapshot<T = unknown>(path: string): Promise<SnapshotFile<T>> {
  const where = `snapshot file ${path}`
  // Opened without blocking and checked before reading: a FIFO (or a device)
  // at the path would otherwise hang the read until somebody writes to it.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  let file: Buffer
  try {
    const info = await handle.stat()
    if (!info.isFile()) throw new SnapshotFileError(`Expected a ${where} that is a regular file, got ${info.isFIFO() ? 'a FIFO' : info.isDirectory() ? 'a directory' : 'another kind of file'}`)
    file = await handle.readFile()
  } finally {
    await handle.close()
  }
  if (file.length < HEADER_BYTES) throw new SnapshotFileError(`Expected a ${where} of at least ${HEADER_BYTES} bytes, got ${file.length}: truncated`)
  if (!file.subarray(0, 8).equals(MAGIC)) throw new SnapshotFileError(`Expected a ${where} starting with the threadstate magic, got other bytes: not a snapshot file`)
  const format = file.readUInt32LE(8)
  if (format !== FORMAT_VERSION) throw new SnapshotFileError(`Expected ${where} format version ${FORMAT_VERSION}, got ${format}`)
  const length = file.readUInt32LE(12)
  if (file.length !== HEADER_BYTES + length) {
    throw new SnapshotFileError(`Expected a ${where} of ${HEADER_BYTES + length} bytes, got ${file.length}: truncated or padded`)
  }
  const payload = file.subarray(HEADER_BYTES)
  if (!checksum(file).equals(file.subarray(32, 64))) {
    throw new SnapshotFileError(`Expected the checksum of ${where} to match its contents, got a mismatch: the file is corrupted`)
  }
  let value: T
  try {
    value = decode(payload) as T
  } catch (error) {
    throw new SnapshotFileError(`Expected the payload of ${where} to decode, got: ${(error as Error).message} (its checksum matched: it was written so)`)
  }
  return { value, version: file.readDoubleLE(16), timestamp: file.readDoubleLE(24) }
}

/**
 * Creates a SnapshotStore whose first snapshot is the one saved at `path`
 * (if a good file is there) or `options.initial`.
 * @returns the store and what was restored (undefined if nothing was)
 * @throws SnapshotFileError if a file is there but unusable (so a corrupted
 *   file is never silently replaced by the initial state)
 */
export async function restoreSnapshotStore<T>(
  path: string,
  options: SnapshotStoreOptions<T>,
): Promise<RestoredStore<T>> {
  let restored: SnapshotFile<T> | undefined
  try {
    restored = await loadSnapshot<T>(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  await removeStaleTemps(path)
  const store = SnapshotStore.create<T>({ ...options, initial: restored ? restored.value : options.initial })
  if (restored !== undefined) {
    // The saved version and timestamp, so versions never go back across a
    // restart (a reader comparing versions is not fooled) and saves go on from there.
    const { bytes, flags } = encodeWithFlags(restored.value)
    snapshotMirrorOf(store as SnapshotStore<unknown>).publishAt(restored.version, bytes, flags, restored.timestamp, undefined, true)
  }
  return { store, restored }
}

/** Options of {@link persistSnapshots}. */
export interface PersistOptions {
  /**
   * Save every this many ms (only when the version changed).
   * @default 1000
   */
  readonly intervalMs?: number
  /** Called with errors of periodic saves (default: print them on stderr). */
  readonly onError?: (error: unknown) => void
}

/** A running periodic persistence. */
export interface Persistence {
  /** Saves now if the version changed since the last save. */
  flush(): Promise<void>
  /** Stops the timer and makes a final save. */
  stop(): Promise<void>
}

/**
 * Saves `store` to `path` every `intervalMs` when its version has changed
 * (seed 004's periodic persistence). The timer does not keep the process
 * alive; call `stop()` on shutdown for a final save.
 */
export function persistSnapshots<T>(store: SnapshotStore<T>, path: string, options: PersistOptions = {}): Persistence {
  const intervalMs = options.intervalMs ?? 1000
  if (typeof intervalMs !== 'number' || !(intervalMs > 0)) {
    throw new OptionError(`Expected \`intervalMs\` to be a number > 0, got ${describe(intervalMs)}`)
  }
  const onError = options.onError ?? ((error: unknown) => console.error('threadstate: saving the snapshot failed:', error))
  let saved = -1
  let running: Promise<void> = Promise.resolve()
  const flush = (): Promise<void> => {
    // Chained so saves never overlap; a failed save does not stop later ones.
    running = running.catch(() => {}).then(async () => {
      const version = store.version
      if (version === saved) return
      await saveSnapshot(store, path)
      saved = version
    })
    return running
  }
  const timer = setInterval(() => {
    flush().catch(onError)
  }, intervalMs)
  timer.unref()
  return {
    flush,
    stop: async () => {
      clearInterval(timer)
      await flush()
    },
  }
}
