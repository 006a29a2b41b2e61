/**
 * State schemas: the typed description of what a StateBuffer holds.
 *
 * A schema is plain data (structured-cloneable, so it travels inside a
 * handle) built with small field builders; `Infer<typeof S>` gives the plain
 * TypeScript type of a state. Every field is stored as one or more Float64
 * words (f32 values are rounded with `Math.fround`, integers and enum indices
 * are exact), so a whole state is one flat numeric array: seed 000's "fast
 * state".
 *
 * @example
 * ```ts
 * const Drone = schema({
 *   position: vec3({ unit: 'm' }),
 *   velocity: vec3({ unit: 'm/s' }),
 *   attitude: quat(),
 *   mode: enumOf(['idle', 'armed', 'flying']),
 *   battery: f64({ unit: '%', min: 0, max: 100 }),
 *   armed: bool(),
 * })
 * type DroneState = Infer<typeof Drone>
 * ```
 *
 * @module
 */
import { OptionError, ThreadstateError, describe } from '../errors.js'
import { checkUnit } from './units.js'

/** A state value does not match its schema. Nothing shared was changed. */
export class SchemaError extends ThreadstateError {
  /** Always `'SchemaError'`. */
  override name = 'SchemaError'
  /** Dotted path of the offending field (`position[2]`, `gains.kp`); '' for the whole value. */
  readonly path: string
  constructor(path: string, message: string) {
    super(message)
    this.path = path
  }
}

/** Options of a numeric field. */
export interface NumberOptions {
  /** Unit the stored value is in ('m', 'm/s', 'rad', '%', ...). `publish()` converts compatible units into it. */
  readonly unit?: string
  /** Smallest allowed value (inclusive). */
  readonly min?: number
  /** Largest allowed value (inclusive). */
  readonly max?: number
}

/** Numeric field kinds. */
export type NumberKind = 'f64' | 'f32' | 'i32' | 'u32'

/** A numeric field. */
export interface NumberField<K extends NumberKind = NumberKind> extends NumberOptions {
  /** Storage kind. */
  readonly kind: K
}
/** A boolean field. */
export interface BoolField {
  /** Always `'bool'`. */
  readonly kind: 'bool'
}
/** A field holding one of a fixed list of strings. */
export interface EnumField<M extends readonly string[] = readonly string[]> {
  /** Always `'enum'`. */
  readonly kind: 'enum'
  /** The allowed strings; a value is stored as its index. */
  readonly members: M
}
/** A fixed-length vector of f64 numbers. */
export interface VecField<N extends number = number> extends NumberOptions {
  /** Always `'vec'`. */
  readonly kind: 'vec'
  /** Number of elements. */
  readonly length: N
}
/** Any leaf field. */
export type Field = NumberField | BoolField | EnumField | VecField

/** The shape of a schema: named fields and nested shapes. */
export interface Shape {
  readonly [name: string]: Field | Shape
}

/** A compiled-once description of a state. Build with {@link schema}. */
export interface Schema<S extends Shape = Shape> {
  /** Always `'schema'`. */
  readonly kind: 'schema'
  /** The fields, as given to {@link schema}. */
  readonly shape: S
}

type TupleOf<N extends number, R extends number[] = []> = number extends N
  ? number[]
  : R['length'] extends N
    ? R
    : R['length'] extends 16
      ? number[]
      : TupleOf<N, [...R, number]>

type InferField<F> = F extends NumberField
  ? number
  : F extends BoolField
    ? boolean
    : F extends EnumField<infer M>
      ? M[number]
      : F extends VecField<infer N>
        ? TupleOf<N>
        : F extends Shape
          ? InferShape<F>
          : never

type InferShape<S extends Shape> = { -readonly [K in keyof S]: InferField<S[K]> }

/** The plain TypeScript type of a state of schema `T`. */
export type Infer<T extends Schema> = InferShape<T['shape']>

/** A number given in another unit: converted to the field's unit by `publish()`. */
export interface WithUnit<V> {
  /** The number (or numbers) in `unit`. */
  readonly value: V
  /** Their unit ('cm', 'deg', 'km/h', ...). */
  readonly unit: string
}

type InputField<F> = F extends NumberField
  ? F extends { readonly unit: string }
    ? number | WithUnit<number>
    : number
  : F extends VecField
    ? F extends { readonly unit: string }
      ? ArrayLike<number> | WithUnit<ArrayLike<number>>
      : ArrayLike<number>
    : F extends Shape
      ? InputShape<F>
      : InferField<F>

type InputShape<S extends Shape> = { readonly [K in keyof S]: InputField<S[K]> }

/**
 * What `publish()` accepts for schema `T`: like {@link Infer}, but fields with
 * a unit also take `{ value, unit }`, and vectors take any array-like.
 */
export type Input<T extends Schema> = InputShape<T['shape']>

function checkNumberOptions(kind: string, options: NumberOptions): void {
  const { unit, min, max } = options
  if (unit !== undefined && (typeof unit !== 'string' || unit === '')) {
    throw new OptionError(`Expected \`unit\` of ${kind} to be a non-empty string, got ${describe(unit)}`)
  }
  if (unit !== undefined) checkUnit(unit, kind)
  for (const [name, v] of [
    ['min', min],
    ['max', max],
  ] as const) {
    if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v))) {
      throw new OptionError(`Expected \`${name}\` of ${kind} to be a number, got ${describe(v)}`)
    }
  }
  if (min !== undefined && max !== undefined && min > max) {
    throw new OptionError(`Expected \`min\` <= \`max\` for ${kind}, got min ${min} > max ${max}`)
  }
}

function numberField<K extends NumberKind, O extends NumberOptions>(kind: K, options: O): NumberField<K> & O {
  checkNumberOptions(kind, options)
  return { ...options, kind }
}

/** A 64-bit float field. */
export function f64<const O extends NumberOptions = object>(options: O = {} as O): NumberField<'f64'> & O {
  return numberField('f64', options)
}
/** A 32-bit float field (values are rounded to float32 precision). */
export function f32<const O extends NumberOptions = object>(options: O = {} as O): NumberField<'f32'> & O {
  return numberField('f32', options)
}
/** A signed 32-bit integer field. */
export function i32<const O extends NumberOptions = object>(options: O = {} as O): NumberField<'i32'> & O {
  return numberField('i32', options)
}
/** An unsigned 32-bit integer field. */
export function u32<const O extends NumberOptions = object>(options: O = {} as O): NumberField<'u32'> & O {
  return numberField('u32', options)
}
/** A boolean field. */
export function bool(): BoolField {
  return { kind: 'bool' }
}
/** A field holding one of `members` (stored as its index). */
export function enumOf<const M extends readonly string[]>(members: M): EnumField<M> {
  if (!Array.isArray(members) || members.length === 0 || !members.every((m) => typeof m === 'string')) {
    throw new OptionError(`Expected enumOf() members to be a non-empty array of strings, got ${describe(members)}`)
  }
  if (new Set(members).size !== members.length) {
    throw new OptionError(`Expected enumOf() members to be distinct, got ${JSON.stringify(members)}`)
  }
  return { kind: 'enum', members: [...members] as unknown as M }
}
/** A vector of `length` f64 numbers. */
export function vec<const N extends number, const O extends NumberOptions = object>(
  length: N,
  options: O = {} as O,
): VecField<N> & O {
  if (!Number.isInteger(length) || length < 1 || length > 65536) {
    throw new OptionError(`Expected vec() length to be an integer from 1 to 65536, got ${describe(length)}`)
  }
  checkNumberOptions('vec', options)
  return { ...options, kind: 'vec', length }
}
/** A 3-vector (position, velocity, ...). */
export function vec3<const O extends NumberOptions = object>(options: O = {} as O): VecField<3> & O {
  return vec(3, options)
}
/** A quaternion [w, x, y, z]. */
export function quat(): VecField<4> {
  return vec(4)
}

function isField(value: unknown): value is Field {
  return typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string'
}

const KINDS = new Set(['f64', 'f32', 'i32', 'u32', 'bool', 'enum', 'vec'])

function checkShape(shape: unknown, path: string): void {
  if (typeof shape !== 'object' || shape === null || Array.isArray(shape)) {
    throw new OptionError(`Expected ${path || 'the schema'} to be an object of fields, got ${describe(shape)}`)
  }
  const keys = Object.keys(shape)
  if (keys.length === 0) throw new OptionError(`Expected ${path || 'the schema'} to have at least one field, got none`)
  for (const key of keys) {
    const sub = path ? `${path}.${key}` : key
    if (!/^[A-Za-z_$][\w$]*$/.test(key)) {
      throw new OptionError(`Expected field names to be identifiers, got ${JSON.stringify(sub)}`)
    }
    const value = (shape as Record<string, unknown>)[key]
    if (isField(value)) {
      if (!KINDS.has(value.kind)) throw new OptionError(`Expected a field kind at ${sub}, got ${describe(value.kind)}`)
    } else checkShape(value, sub)
  }
}

/**
 * Builds a schema from named fields and nested objects of fields.
 * @throws OptionError for an empty shape, a non-identifier name or a bad field
 */
export function schema<const S extends Shape>(shape: S): Schema<S> {
  checkShape(shape, '')
  return { kind: 'schema', shape: structuredClone(shape) as S }
}

/** Whether `value` is a leaf field (not a nested shape). @internal */
export { isField }
