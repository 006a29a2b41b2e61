/**
 * Compiles a schema, once per thread (see {@link codecOf}), into its flat
 * layout and straight-line functions:
 *
 * - `validateInto(value, out)`: checks a state and writes it, converted to
 *   the fields' units, as flat Float64 words into a thread-local scratch
 *   array; throws `SchemaError` naming the field. Nothing shared is touched.
 * - `decode(words, offset)`: the plain object of a flat state.
 * - `copy(src, srcOffset, dst, dstOffset)`: the flat copy writers and
 *   `at()` use.
 * - `copySource(word, from)`: the same copy as source text, for the read
 *   loop a StateBuffer generates around it (`VersionRing.compileReadLoop`);
 *   `storeSource(word, from)` the other way, for its writes.
 * - `writeFlatSource(word, from)`: source text that checks a state already
 *   flat (layout order, the fields' units) as it copies it, each word read
 *   once: the checks of `validateInto` (finite, integer kinds, float32
 *   range, min/max, booleans 0 or 1, enum indexes), float32 fields rounded
 *   as `validateInto` stores them; for the flat write a StateBuffer
 *   generates around it (`publishFrom`).
 *
 * Why generated code: the hot paths run at 1 kHz in control loops and their
 * budget is tens of nanoseconds. A generated, unrolled copy of 25 doubles
 * costs ~8 ns here; a loop ~18 ns; `TypedArray.set` with `subarray()` ~64 ns
 * (it allocates). Field names are checked to be identifiers and every other
 * value is passed to the generated function as data, never pasted into code.
 * The generator needs `new Function` (a CSP without 'unsafe-eval' forbids it).
 *
 * @module
 */
import { describe } from '../errors.js'
import { isField, SchemaError, type Field, type Schema, type Shape } from './schema.js'
import { converter } from './units.js'

/** One leaf of the flat layout. */
export interface FlatField {
  /** Display path: `position`, `gains.kp`. */
  readonly path: string
  /** Field description. */
  readonly field: Field
  /** First Float64 word of the field in a flat state. */
  readonly offset: number
  /** Number of words (vector length, else 1). */
  readonly length: number
}

/** A compiled schema. */
export interface Codec {
  /** Float64 words of one flat state. */
  readonly size: number
  /** Every leaf, in layout order. */
  readonly fields: readonly FlatField[]
  /** Canonical text of the schema; equal schemas have equal fingerprints. */
  readonly fingerprint: string
  /** 32-bit hash of the fingerprint, stored in shared memory. */
  readonly hash: number
  readonly validateInto: (value: unknown, out: Float64Array) => void
  readonly decode: (words: Float64Array, offset: number) => unknown
  readonly copy: (src: Float64Array, srcOffset: number, dst: Float64Array, dstOffset: number) => void
  /**
   * Statements copying one flat state into `t` from index 0, written out
   * word by word: word `i` of the state is the expression `word(from + i)`
   * (the copy step of a generated read loop,
   * `VersionRing.compileReadLoop`, which names `t` and says what `word` is).
   */
  readonly copySource: (word: (k: number | string) => string, from: number) => string
  /**
   * The other direction: statements storing the flat state `s` (from index
   * 0) at the expressions `word(from + i)`, written out word by word, no
   * checks (a state `validateInto` wrote).
   */
  readonly storeSource: (word: (k: number | string) => string, from: number) => string
  /**
   * Statements that read a flat state from `s` (each word once, into a local
   * `x` they declare), check it (see the module doc; a bad word throws
   * SchemaError naming the field and its flat word), and store it, rounded
   * if the field is float32, at the expression `word(from + i)`. Words
   * before a bad one are already stored. Free variables besides `s`: those
   * of {@link flatScope}.
   */
  readonly writeFlatSource: (word: (k: number | string) => string, from: number) => string
  /** The free variables {@link writeFlatSource}'s statements name (pass them to the `new Function`). */
  readonly flatScope: Readonly<Record<string, unknown>>
}

const UNROLL_LIMIT = 512

function canonical(shape: Shape): unknown {
  return Object.keys(shape).map((key) => {
    const v = shape[key]!
    if (!isField(v)) return [key, canonical(v)]
    switch (v.kind) {
      case 'bool':
        return [key, 'bool']
      case 'enum':
        return [key, 'enum', v.members]
      case 'vec':
        return [key, 'vec', v.length, v.unit ?? null, v.min ?? null, v.max ?? null]
      default:
        return [key, v.kind, v.unit ?? null, v.min ?? null, v.max ?? null]
    }
  })
}

/** FNV-1a, 32 bits. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h | 0
}

/** Canonical fingerprint of a schema (what `attach(handle, schema)` compares). */
export function fingerprintOf(s: Schema): string {
  return JSON.stringify(canonical(s.shape))
}

function flatten(shape: Shape, prefix: string, out: FlatField[], offset: number): number {
  for (const key of Object.keys(shape)) {
    const v = shape[key]!
    const path = prefix ? `${prefix}.${key}` : key
    if (isField(v)) {
      const length = v.kind === 'vec' ? v.length : 1
      out.push({ path, field: v, offset, length })
      offset += length
    } else offset = flatten(v, path, out, offset)
  }
  return offset
}

/**
 * What a value of `field` must be, for its SchemaError: the kind, or the
 * bound `got` broke, with the field's unit. `flat`: as a word of a flat
 * state (booleans 0 or 1, enums as indexes, values in the fields' units).
 */
function expectedOf(field: Field, got: unknown, flat: boolean): string {
  let expected: string
  switch (field.kind) {
    case 'bool':
      return flat ? '0 or 1 (a boolean, flat)' : 'a boolean'
    case 'enum': {
      const members = field.members.map((m) => JSON.stringify(m)).join(', ')
      return flat ? `an index from 0 to ${field.members.length - 1} (one of ${members}, flat)` : `one of ${members}`
    }
    case 'i32':
      expected = 'a 32-bit integer'
      break
    case 'u32':
      expected = 'an unsigned 32-bit integer'
      break
    case 'f32':
      expected = 'a finite number within float32 range'
      break
    default:
      expected = 'a finite number'
  }
  const { min, max } = field
  if (typeof got === 'number' && Number.isFinite(got)) {
    if (min !== undefined && got < min) expected = `a number >= ${min}`
    else if (max !== undefined && got > max) expected = `a number <= ${max}`
  }
  if (field.unit !== undefined) expected += flat ? ` (in ${field.unit}: flat states are in the fields' units)` : ` (in ${field.unit})`
  return expected
}

/** Builds the precise error for a value the fast checks refused. */
function refuse(path: string, field: Field, got: unknown, index?: number): never {
  const where = index === undefined ? path : `${path}[${index}]`
  if (got === undefined && index === undefined) throw new SchemaError(where, `Expected field \`${where}\` to be present, got it missing`)
  throw new SchemaError(where, `Expected \`${where}\` to be ${expectedOf(field, got, false)}, got ${describe(got)}`)
}

/** The SchemaError of word `word` of a flat state (`index`: the element of a vector field). */
function refuseFlat(path: string, field: Field, got: number, word: number, index?: number): never {
  const where = index === undefined ? path : `${path}[${index}]`
  throw new SchemaError(where, `Expected \`${where}\` (flat word ${word}) to be ${expectedOf(field, got, true)}, got ${describe(got)}`)
}

/** Slow path of a scalar that is not a plain finite number: `{ value, unit }` or an error. */
function convertScalar(got: unknown, path: string, field: Field): number {
  const unit = 'unit' in field ? field.unit : undefined
  if (typeof got === 'object' && got !== null && 'unit' in got && 'value' in got) {
    const { value, unit: from } = got as { value: unknown; unit: unknown }
    if (unit === undefined) {
      throw new SchemaError(path, `Expected \`${path}\` to be a plain number (the field has no unit), got a value in ${describe(from)}`)
    }
    if (typeof from !== 'string') throw new SchemaError(path, `Expected the unit of \`${path}\` to be a string, got ${describe(from)}`)
    const c = converter(from, unit)
    if (typeof c === 'string') {
      throw new SchemaError(path, `Expected \`${path}\` in a unit convertible to ${unit}, got ${from}: ${c}`)
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) refuse(path, field, value)
    return converted(c, value, from, path, field)
  }
  return refuse(path, field, got)
}

/**
 * `value` (in `from`) converted by `c`, checked again: a finite value can
 * overflow on the way (1e308 km/s is Infinity m/s), and js-quantities throws
 * its own error for what cannot be converted (a temperature below absolute
 * zero): both are SchemaErrors naming the field.
 */
function converted(c: (x: number) => number, value: number, from: string, path: string, field: Field, index?: number): number {
  const where = index === undefined ? path : `${path}[${index}]`
  let x: number
  try {
    x = c(value)
  } catch (error) {
    throw new SchemaError(where, `Expected \`${where}\` to be convertible from ${from}, got ${value} ${from}: ${(error as Error).message}`)
  }
  if (!Number.isFinite(x)) {
    const unit = 'unit' in field ? field.unit : undefined
    throw new SchemaError(where, `Expected \`${where}\` to be a finite number in ${unit}, got ${value} ${from}, which is ${x} ${unit}`)
  }
  return x
}

/** Slow path of a vector that is not a plain array of the right length. */
function convertVector(got: unknown, path: string, field: Field & { kind: 'vec' }): ArrayLike<number> {
  if (typeof got === 'object' && got !== null && 'unit' in got && 'value' in got) {
    const { value, unit: from } = got as { value: unknown; unit: unknown }
    if (field.unit === undefined) {
      throw new SchemaError(path, `Expected \`${path}\` to be plain numbers (the field has no unit), got values in ${describe(from)}`)
    }
    if (typeof from !== 'string') throw new SchemaError(path, `Expected the unit of \`${path}\` to be a string, got ${describe(from)}`)
    const c = converter(from, field.unit)
    if (typeof c === 'string') {
      throw new SchemaError(path, `Expected \`${path}\` in a unit convertible to ${field.unit}, got ${from}: ${c}`)
    }
    const raw = convertVector(value, path, { ...field, unit: undefined } as never)
    return Array.from(raw, (x, i) => (Number.isFinite(x) ? converted(c, x, from, path, field, i) : refuse(path, field, x, i)))
  }
  if (got === undefined) throw new SchemaError(path, `Expected field \`${path}\` to be present, got it missing`)
  const isList = typeof got === 'object' && got !== null && typeof (got as ArrayLike<number>).length === 'number'
  if (!isList) throw new SchemaError(path, `Expected \`${path}\` to be an array of ${field.length} numbers, got ${describe(got)}`)
  const length = (got as ArrayLike<number>).length
  if (length !== field.length) {
    throw new SchemaError(path, `Expected \`${path}\` to have ${field.length} numbers, got ${length}`)
  }
  return got as ArrayLike<number>
}

/** Reports missing or unknown keys of an object at `path`. */
function badKeys(value: unknown, expected: readonly string[], path: string): never {
  const where = path || 'the state'
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SchemaError(path, `Expected ${where} to be an object, got ${describe(value)}`)
  }
  const known = new Set(expected)
  const unknown = Object.keys(value).filter((k) => !known.has(k))
  if (unknown.length > 0) {
    const at = path ? `${path}.${unknown[0]}` : unknown[0]!
    throw new SchemaError(at, `Expected only the fields ${expected.join(', ')} in ${where}, got unknown field \`${unknown[0]}\``)
  }
  const missing = expected.find((k) => !(k in value))
  const at = path ? `${path}.${missing}` : missing!
  throw new SchemaError(at, `Expected field \`${at}\` to be present, got it missing`)
}

const bySchema = new WeakMap<Schema, Codec>()
const byFingerprint = new Map<string, Codec>()

/**
 * The codec of `s`: compiled the first time this thread meets a schema of
 * its fingerprint, then found by the schema object (no work at all) or by
 * its fingerprint (a handle's schema, cloned into another thread: one
 * canonical JSON text, no compilation).
 * @throws SchemaError / TypeError for a shape that is not a schema's
 */
export function codecOf(s: Schema): Codec {
  const known = bySchema.get(s)
  if (known !== undefined) return known
  const fingerprint = fingerprintOf(s)
  let codec = byFingerprint.get(fingerprint)
  if (codec === undefined) {
    codec = compile(s, fingerprint)
    byFingerprint.set(fingerprint, codec)
  }
  bySchema.set(s, codec)
  return codec
}

/** Compiles `s` (of fingerprint `fingerprint`) into its layout and generated functions. */
function compile(s: Schema, fingerprint: string): Codec {
  const fields: FlatField[] = []
  const size = flatten(s.shape, '', fields, 0)
  const consts: unknown[] = []
  const constant = (value: unknown): string => {
    consts.push(value)
    return `K[${consts.length - 1}]`
  }

  // validateInto ------------------------------------------------------------
  const v: string[] = ['let x, a, n;']
  const objectChecks = (shape: Shape, expr: string, path: string): void => {
    const keys = Object.keys(shape)
    v.push(
      `if (typeof ${expr} !== 'object' || ${expr} === null) badKeys(${expr}, ${constant(keys)}, ${constant(path)});`,
      `n = 0; for (const k in ${expr}) n++;`,
      `if (n !== ${keys.length}) badKeys(${expr}, ${constant(keys)}, ${constant(path)});`,
    )
    for (const key of keys) {
      const sub = shape[key]!
      if (!isField(sub)) objectChecks(sub, `${expr}.${key}`, path ? `${path}.${key}` : key)
    }
  }
  objectChecks(s.shape, 'v', '')
  const accessOf = (path: string): string => `v.${path}`
  const scalarChecks = (field: Field, x: string, fieldRef: string, pathRef: string, index?: number): string[] => {
    const lines: string[] = []
    const fail = index === undefined ? `refuse(${pathRef}, ${fieldRef}, ${x})` : `refuse(${pathRef}, ${fieldRef}, ${x}, ${index})`
    if (field.kind === 'i32') lines.push(`if ((${x} | 0) !== ${x}) ${fail};`)
    if (field.kind === 'u32') lines.push(`if ((${x} >>> 0) !== ${x}) ${fail};`)
    if (field.kind === 'f32') lines.push(`${x} = Math.fround(${x}); if (!Number.isFinite(${x})) ${fail};`)
    if (field.kind !== 'bool' && field.kind !== 'enum') {
      if (field.min !== undefined) lines.push(`if (${x} < ${constant(field.min)}) ${fail};`)
      if (field.max !== undefined) lines.push(`if (${x} > ${constant(field.max)}) ${fail};`)
    }
    return lines
  }
  for (const f of fields) {
    const fieldRef = constant(f.field)
    const pathRef = constant(f.path)
    const field = f.field
    v.push(`// ${f.path}`)
    if (field.kind === 'bool') {
      v.push(`x = ${accessOf(f.path)};`, `if (x === true) out[${f.offset}] = 1; else if (x === false) out[${f.offset}] = 0; else refuse(${pathRef}, ${fieldRef}, x);`)
    } else if (field.kind === 'enum') {
      const chain = field.members.map((m, i) => `x === ${constant(m)} ? ${i} : `).join('')
      v.push(`x = ${accessOf(f.path)};`, `a = ${chain}-1;`, `if (a < 0) refuse(${pathRef}, ${fieldRef}, x);`, `out[${f.offset}] = a;`)
    } else if (field.kind === 'vec') {
      v.push(
        `a = ${accessOf(f.path)};`,
        `if (a === null || typeof a !== 'object' || a.length !== ${field.length}) a = convertVector(a, ${pathRef}, ${fieldRef});`,
      )
      if (field.length <= UNROLL_LIMIT) {
        for (let i = 0; i < field.length; i++) {
          v.push(`x = a[${i}]; if (!Number.isFinite(x)) refuse(${pathRef}, ${fieldRef}, x, ${i});`)
          v.push(...scalarChecks(field, 'x', fieldRef, pathRef, i), `out[${f.offset + i}] = x;`)
        }
      } else {
        v.push(
          `for (let i = 0; i < ${field.length}; i++) {`,
          `x = a[i]; if (!Number.isFinite(x)) refuse(${pathRef}, ${fieldRef}, x, i);`,
          ...scalarChecks(field, 'x', fieldRef, pathRef, -1).map((l) => l.replace(', -1)', ', i)')),
          `out[${f.offset} + i] = x; }`,
        )
      }
    } else {
      v.push(`x = ${accessOf(f.path)};`, `if (!Number.isFinite(x)) x = convert(x, ${pathRef}, ${fieldRef});`)
      v.push(...scalarChecks(field, 'x', fieldRef, pathRef), `out[${f.offset}] = x;`)
    }
  }

  // writeFlatSource ------------------------------------------------------------
  // One line per word. A word of a plain double field (f64 or vec, no
  // min/max) is only refused if not finite: it goes into one of four sums of
  // `x * 0` (0 for a finite x, NaN otherwise), checked once after the copy;
  // measured on 25 such words, the copy with a branch per word cost ~21 ns,
  // with the four sums ~16 ns, the bare copy ~9 ns. Four sums rather than one
  // so that the additions do not wait on each other. Only when a sum is not
  // 0 are those words looked at again, in the slot they were copied to (a
  // plain double is stored as read), to name the first bad one. Every other
  // word is checked as it is read.
  const flatLines: { read: string; store: string }[] = []
  const plainWords: { word: number; fail: string }[] = []
  for (const f of fields) {
    const fieldRef = constant(f.field)
    const pathRef = constant(f.path)
    const field = f.field
    for (let i = 0; i < f.length; i++) {
      const word = f.offset + i
      const fail = field.kind === 'vec' ? `refuseFlat(${pathRef}, ${fieldRef}, x, ${word}, ${i})` : `refuseFlat(${pathRef}, ${fieldRef}, x, ${word})`
      if ((field.kind === 'f64' || field.kind === 'vec') && field.min === undefined && field.max === undefined) {
        flatLines.push({ read: `x = s[${word}]; a${plainWords.length % 4} += x * 0;`, store: 'x' })
        plainWords.push({ word, fail })
        continue
      }
      const checks: string[] = []
      if (field.kind === 'bool') checks.push(`x !== 0 && x !== 1`)
      else if (field.kind === 'enum') checks.push(`(x >>> 0) !== x || x >= ${field.members.length}`)
      else {
        checks.push(field.kind === 'f32' ? `!Number.isFinite(Math.fround(x))` : `!Number.isFinite(x)`)
        if (field.kind === 'i32') checks.push(`(x | 0) !== x`)
        if (field.kind === 'u32') checks.push(`(x >>> 0) !== x`)
        if (field.min !== undefined) checks.push(`x < ${constant(field.min)}`)
        if (field.max !== undefined) checks.push(`x > ${constant(field.max)}`)
      }
      flatLines.push({ read: `x = s[${word}]; if (${checks.join(' || ')}) ${fail};`, store: field.kind === 'f32' ? 'Math.fround(x)' : 'x' })
    }
  }
  const checkFlat = flatWordChecker(fields, size)
  const writeFlatSource = (word: (k: number | string) => string, from: number): string => {
    if (!Number.isSafeInteger(from) || from < 0) throw new TypeError(`Expected a Float64 index >= 0, got ${describe(from)}`)
    if (size > UNROLL_LIMIT) return `for (let i = 0; i < ${size}; i++) ${word(`${from} + i`)} = checkFlat(i, s[i]);`
    const lines = ['let x, a0 = 0, a1 = 0, a2 = 0, a3 = 0;', ...flatLines.map((l, i) => `${l.read} ${word(from + i)} = ${l.store};`)]
    if (plainWords.length > 0) {
      lines.push(
        'if (a0 + a1 + a2 + a3 !== 0) {',
        ...plainWords.map((p) => `x = ${word(from + p.word)}; if (!Number.isFinite(x)) ${p.fail};`),
        '}',
      )
    }
    return lines.join('\n')
  }
  const flatScope = { K: consts, refuseFlat, checkFlat }
  const storeSource = (word: (k: number | string) => string, from: number): string => {
    if (!Number.isSafeInteger(from) || from < 0) throw new TypeError(`Expected a Float64 index >= 0, got ${describe(from)}`)
    return size <= UNROLL_LIMIT
      ? Array.from({ length: size }, (_, i) => `${word(from + i)} = s[${i}];`).join('\n')
      : `for (let i = 0; i < ${size}; i++) ${word(`${from} + i`)} = s[i];`
  }

  // decode ------------------------------------------------------------------
  const decodeShape = (shape: Shape, prefix: string): string => {
    const parts = Object.keys(shape).map((key) => {
      const sub = shape[key]!
      const path = prefix ? `${prefix}.${key}` : key
      if (!isField(sub)) return `${key}: ${decodeShape(sub, path)}`
      const f = fields.find((x) => x.path === path)!
      switch (sub.kind) {
        case 'bool':
          return `${key}: s[o + ${f.offset}] !== 0`
        case 'enum':
          return `${key}: ${constant(sub.members)}[s[o + ${f.offset}]]`
        case 'vec':
          return sub.length <= UNROLL_LIMIT
            ? `${key}: [${Array.from({ length: sub.length }, (_, i) => `s[o + ${f.offset + i}]`).join(', ')}]`
            : `${key}: Array.from(s.subarray(o + ${f.offset}, o + ${f.offset + sub.length}))`
        default:
          return `${key}: s[o + ${f.offset}]`
      }
    })
    return `{ ${parts.join(', ')} }`
  }

  // copy --------------------------------------------------------------------
  const copyBody =
    size <= UNROLL_LIMIT
      ? Array.from({ length: size }, (_, i) => `d[q + ${i}] = s[p + ${i}];`).join('\n')
      : `for (let i = 0; i < ${size}; i++) d[q + i] = s[p + i];`
  const copySource = (word: (k: number | string) => string, from: number): string => {
    if (!Number.isSafeInteger(from) || from < 0) throw new TypeError(`Expected a Float64 index >= 0, got ${describe(from)}`)
    return size <= UNROLL_LIMIT
      ? Array.from({ length: size }, (_, i) => `t[${i}] = ${word(from + i)};`).join('\n')
      : `for (let i = 0; i < ${size}; i++) t[i] = ${word(`${from} + i`)};`
  }

  const factory = new Function(
    'K',
    'refuse',
    'convert',
    'convertVector',
    'badKeys',
    `"use strict";
     const copy = function copy(s, p, d, q) {\n${copyBody}\n};
     return {
       validateInto: function validateInto(v, out) {\n${v.join('\n')}\n},
       decode: function decode(s, o) { return ${decodeShape(s.shape, '')} },
       copy,
     }`,
  ) as (...args: unknown[]) => Pick<Codec, 'validateInto' | 'decode' | 'copy'>
  const generated = factory(consts, refuse, convertScalar, convertVector, badKeys)
  return { size, fields, fingerprint, hash: fnv1a(fingerprint), copySource, storeSource, writeFlatSource, flatScope, ...generated }
}

/**
 * The check of one flat word, for states too large to unroll: `(i, x)`
 * returns word `i`'s value `x` as stored (float32 fields rounded) or throws
 * SchemaError as the unrolled statements do.
 */
function flatWordChecker(fields: readonly FlatField[], size: number): (i: number, x: number) => number {
  const owner = new Uint32Array(size)
  fields.forEach((f, n) => owner.fill(n, f.offset, f.offset + f.length))
  return (i, x) => {
    const f = fields[owner[i]!]!
    const field = f.field
    let bad: boolean
    if (field.kind === 'bool') bad = x !== 0 && x !== 1
    else if (field.kind === 'enum') bad = x >>> 0 !== x || x >= field.members.length
    else {
      bad = !Number.isFinite(field.kind === 'f32' ? Math.fround(x) : x)
      if (field.kind === 'i32') bad ||= (x | 0) !== x
      if (field.kind === 'u32') bad ||= x >>> 0 !== x
      if (field.min !== undefined) bad ||= x < field.min
      if (field.max !== undefined) bad ||= x > field.max
    }
    if (bad) refuseFlat(f.path, field, x, i, field.kind === 'vec' ? i - f.offset : undefined)
    return field.kind === 'f32' ? Math.fround(x) : x
  }
}
